/** Request and response schemas of the jobs routes, for validation, serialisation and /openapi.json. */
import { Type } from 'typebox';
import { TranscriptionBody } from '../asr/asr-routes.js';
import { OPENAI_RESPONSE_FORMATS } from '../asr/transcript-formats.js';
import { JOB_STATUSES } from './job-record.js';

export const JobSubmitBody = Type.Object({
  ...TranscriptionBody.properties,
  task: Type.Optional(Type.Enum(['transcribe', 'translate'] as const)),
  webhook_url: Type.Optional(
    Type.String({ maxLength: 2048, description: 'POSTed {id, status, result_url} when the job ends' }),
  ),
  metadata: Type.Optional(
    Type.String({ maxLength: 4096, description: 'Up to 4 KB of JSON, echoed in the job and its webhook' }),
  ),
});

/** Job ids are UUIDs: nothing else can name one of Voice Stack's other keys in Redis. */
export const JobIdParams = Type.Object({
  id: Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' }),
});

export const JobListQuery = Type.Object({
  status: Type.Optional(Type.Enum(JOB_STATUSES)),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
});

export const JobResultQuery = Type.Object({
  response_format: Type.Optional(Type.Enum(OPENAI_RESPONSE_FORMATS)),
});

const Timestamp = Type.Union([Type.Integer({ description: 'Unix seconds' }), Type.Null()]);

export const JobObject = Type.Object({
  id: Type.String(),
  object: Type.Literal('transcription.job'),
  status: Type.Enum(JOB_STATUSES),
  created_at: Type.Integer({ description: 'Unix seconds' }),
  started_at: Timestamp,
  finished_at: Timestamp,
  progress: Type.Number({ minimum: 0, maximum: 1, description: 'Share of the audio transcribed' }),
  audio_seconds: Type.Number(),
  queue_position: Type.Optional(
    Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], { description: '1 = next; only while queued' }),
  ),
  error: Type.Optional(Type.Object({ message: Type.String(), code: Type.String() })),
  metadata: Type.Optional(Type.Unknown()),
  result_url: Type.String(),
});

export const JobCreated = Type.Object({
  id: Type.String(),
  object: Type.Literal('transcription.job'),
  status: Type.Literal('queued'),
  created_at: Type.Integer({ description: 'Unix seconds' }),
});

export const JobList = Type.Object({
  object: Type.Literal('list'),
  data: Type.Array(JobObject),
});
