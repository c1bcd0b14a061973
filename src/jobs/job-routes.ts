import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { OpenAiTranscriptResponse } from '../asr/asr-response-schemas.js';
import { parseLanguage } from '../asr/asr-routes.js';
import type { AsrEngine } from '../asr/engines/asr-engine.js';
import { formatOpenAi } from '../asr/transcript-formats.js';
import { assertDeclaredSizeWithinLimit, requireUpload } from '../asr/upload.js';
import { decodeSpooledAudio } from '../audio/decode-stream.js';
import {
  conflictError,
  invalidParameterError,
  notFoundError,
  resourceThresholdError,
} from '../core/errors.js';
import { clientAbortSignal } from '../core/http/client-abort.js';
import type { ServiceApp } from '../core/http/service-app-type.js';
import type { ServiceRuntime } from '../core/runtime/service-runtime.js';
import type { JobBackend } from './job-backend.js';
import type { JobMetrics } from './job-metrics.js';
import { encodeJobPieces } from './job-pieces.js';
import type { JobRecord, JobRequest } from './job-record.js';
import {
  JobCreated,
  JobIdParams,
  JobList,
  JobListQuery,
  JobObject,
  JobResultQuery,
  JobSubmitBody,
} from './job-schemas.js';
import { redisNotConfiguredError } from './redis-connection.js';
import { checkWebhookTarget } from './webhook-target.js';

export const JOBS_PATH = '/v1/audio/transcriptions/jobs';
const MAX_METADATA_BYTES = 4096;

const seconds = (ms: number | undefined) => (ms === undefined ? null : Math.floor(ms / 1000));

function jobView(record: JobRecord, queuePosition?: number) {
  return {
    id: record.id,
    object: 'transcription.job' as const,
    status: record.status,
    created_at: Math.floor(record.createdAt / 1000),
    started_at: seconds(record.startedAt),
    finished_at: seconds(record.finishedAt),
    progress: record.progress,
    audio_seconds: record.audioSeconds,
    ...(record.status === 'queued' ? { queue_position: queuePosition ?? null } : {}),
    ...(record.error ? { error: record.error } : {}),
    ...(record.request.metadata === undefined ? {} : { metadata: JSON.parse(record.request.metadata) }),
    result_url: record.request.resultUrl,
  };
}

function parseMetadata(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (Buffer.byteLength(value) > MAX_METADATA_BYTES)
    throw invalidParameterError('metadata', 'must be at most 4 KB of JSON');
  try {
    JSON.parse(value);
  } catch {
    throw invalidParameterError('metadata', 'must be valid JSON');
  }
  return value;
}

/**
 * The durable jobs API: submit (decoded and compressed here, then queued on Redis),
 * look up, fetch the result in any format, cancel, list. Without REDIS_URL every route
 * answers 503 naming it; with Redis unreachable, 503 naming Redis.
 */
export function registerJobRoutes(
  app: ServiceApp,
  runtime: ServiceRuntime<AsrEngine>,
  backend: JobBackend | undefined,
  metrics: JobMetrics | undefined,
): void {
  const { settings } = runtime;
  const jobs = (): JobBackend => {
    if (backend === undefined) throw redisNotConfiguredError();
    backend.assertReachable();
    return backend;
  };
  const find = async (id: string): Promise<JobRecord> => {
    const record = await jobs().call(() => jobs().store.get(id));
    if (record === undefined) throw notFoundError(`no transcription job '${id}' (it may have expired)`);
    return record;
  };
  const view = async (record: JobRecord) =>
    jobView(record, record.status === 'queued' ? await jobs().queuePosition(record) : undefined);

  const beforeUpload = async (request: FastifyRequest) => {
    assertDeclaredSizeWithinLimit(request, settings.maxUploadSizeMb);
    jobs();
    const verdict = runtime.guard.check();
    if (!verdict.ok) throw resourceThresholdError(verdict.resource, verdict.percent, verdict.threshold, 30);
  };

  app.post(
    JOBS_PATH,
    { schema: { body: JobSubmitBody, response: { 202: JobCreated } }, onRequest: beforeUpload },
    async (request, reply) => {
      const body = request.body;
      const upload = requireUpload(body.file, 'file');
      const task = body.task ?? 'transcribe';
      const granularities = body['timestamp_granularities[]'] ?? body.timestamp_granularities ?? [];
      const metadata = parseMetadata(body.metadata);
      const webhookUrl =
        body.webhook_url === undefined || body.webhook_url === '' ? undefined : body.webhook_url;
      if (webhookUrl !== undefined) {
        if (settings.jobs.webhookSecret === undefined)
          throw invalidParameterError('webhook_url', 'webhooks need WEBHOOK_SECRET set on the server');
        await checkWebhookTarget(webhookUrl, settings.jobs.webhookAllowPrivate);
      }
      const language = task === 'translate' ? undefined : parseLanguage(body.language, 'language');
      const signal = clientAbortSignal(request, reply);
      const samples = decodeSpooledAudio(
        { path: upload.path, encoded: true },
        { signal, maxSeconds: settings.asr.maxAudioHours * 3600 },
      );
      const audio = await encodeJobPieces(samples, signal, settings.jobs.splitMinutes * 60);
      const id = randomUUID();
      const jobRequest: JobRequest = {
        task,
        language,
        prompt: body.prompt,
        temperature: body.temperature ?? 0,
        words: granularities.includes('word'),
        responseFormat: body.response_format ?? 'json',
        webhookUrl,
        metadata,
        resultUrl: `${request.protocol}://${request.host}${JOBS_PATH}/${id}/result`,
      };
      const record = await jobs().call(() => jobs().submit(id, jobRequest, audio));
      metrics?.submitted.inc();
      request.log.info(
        { event: 'job_submitted', jobId: id, audioSeconds: audio.seconds, pieces: audio.pieces.length },
        'job submitted',
      );
      return reply
        .code(202)
        .header('location', `${JOBS_PATH}/${id}`)
        .send({
          id,
          object: 'transcription.job',
          status: 'queued',
          created_at: Math.floor(record.createdAt / 1000),
        });
    },
  );

  app.get(
    JOBS_PATH,
    { schema: { querystring: JobListQuery, response: { 200: JobList } } },
    async (request) => {
      const { status, limit } = request.query;
      const records = await jobs().call(() => jobs().store.list(limit ?? 20, status, { dispatched: false }));
      return { object: 'list' as const, data: await Promise.all(records.map(view)) };
    },
  );

  app.get(
    `${JOBS_PATH}/:id`,
    { schema: { params: JobIdParams, response: { 200: JobObject } } },
    async (request) => view(await find(request.params.id)),
  );

  app.get(
    `${JOBS_PATH}/:id/result`,
    { schema: { params: JobIdParams, querystring: JobResultQuery, response: OpenAiTranscriptResponse } },
    async (request, reply) => {
      const record = await find(request.params.id);
      if (record.status !== 'succeeded') {
        const detail =
          record.status === 'failed' || record.status === 'cancelled' ? 'has no result' : 'is not finished';
        throw conflictError(`Transcription job '${record.id}' ${detail} (status: ${record.status}).`);
      }
      const stored = await jobs().call(() => jobs().store.result(record.id));
      if (stored === undefined) throw notFoundError(`the result of job '${record.id}' has expired`);
      const { request: asked } = record;
      const format = request.query.response_format ?? asked.responseFormat;
      const formatted = formatOpenAi(stored.transcript, format, {
        task: asked.task,
        words: asked.words,
        temperature: asked.temperature,
      });
      return reply.type(formatted.contentType).send(formatted.body);
    },
  );

  app.delete(
    `${JOBS_PATH}/:id`,
    { schema: { params: JobIdParams, response: { 200: JobObject } } },
    async (request) => {
      const record = await find(request.params.id);
      if (record.status === 'succeeded' || record.status === 'failed') {
        throw conflictError(`Transcription job '${record.id}' has already ended (status: ${record.status}).`);
      }
      const { record: cancelled, ended } = await jobs().call(() => jobs().cancel(record));
      if (ended) metrics?.cancelled(cancelled ?? record, Date.now());
      if (cancelled === undefined)
        throw notFoundError(`no transcription job '${record.id}' (it may have expired)`);
      request.log.info({ event: 'job_cancel_requested', jobId: record.id }, 'job cancel requested');
      return view(cancelled);
    },
  );
}
