import { randomBytes } from 'node:crypto';
import { authorization, type PreparedRequest, type ServiceTarget } from './service-target.js';

export interface AudioPayload {
  fileName: string;
  contentType: string;
  data: Buffer;
  /** Known for WAV; undefined for formats the tester cannot measure. */
  durationSeconds: number | undefined;
}

export interface AsrTargetOptions {
  baseUrl: string;
  /** Sent as `Authorization: Bearer …` when the server has API_KEY set. */
  apiKey?: string | undefined;
  payloads: readonly AudioPayload[];
  model: string;
  responseFormat: string;
}

/** `POST /v1/audio/transcriptions`, rotating through the audio files. */
export function asrTarget(options: AsrTargetOptions): ServiceTarget {
  if (options.payloads.length === 0) throw new Error('no audio to send');
  // Multipart bodies are encoded once: the generator must not spend its CPU re-encoding uploads.
  const requests = options.payloads.map((payload) => multipartRequest(payload, options));
  return {
    name: 'asr',
    baseUrl: options.baseUrl,
    healthPath: '/health/detailed',
    keepsBody: false,
    request: (index) => requests[index % requests.length] as PreparedRequest,
    audioSecondsFromResponse: (_body, request) => request.audioSeconds,
  };
}

function multipartRequest(payload: AudioPayload, options: AsrTargetOptions): PreparedRequest {
  const boundary = `----voice-stack-load-test-${randomBytes(12).toString('hex')}`;
  const field = (name: string, value: string) =>
    `--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const fileHead =
    `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${payload.fileName}"\r\n` +
    `content-type: ${payload.contentType}\r\n\r\n`;
  const body = Buffer.concat([
    Buffer.from(field('model', options.model) + field('response_format', options.responseFormat)),
    Buffer.from(fileHead),
    payload.data,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return {
    method: 'POST',
    path: '/v1/audio/transcriptions',
    headers: {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      ...authorization(options.apiKey),
    },
    body,
    audioSeconds: payload.durationSeconds,
  };
}
