import { FormData, request } from 'undici';

export interface HttpResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  json<T = Record<string, unknown>>(): T;
}

/** One HTTP request to a test server, body read whole. */
export async function http(
  url: string,
  options: {
    method?: 'GET' | 'POST';
    json?: unknown;
    body?: Buffer | string;
    headers?: Record<string, string>;
  } = {},
): Promise<HttpResult> {
  const headers: Record<string, string> = { ...options.headers };
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  const response = await request(url, { method: options.method ?? (body ? 'POST' : 'GET'), headers, body });
  const buffer = Buffer.from(await response.body.arrayBuffer());
  return {
    status: response.statusCode,
    headers: response.headers,
    body: buffer,
    json: <T>() => JSON.parse(buffer.toString('utf8')) as T,
  };
}

export interface DetailedHealth {
  status: string;
  model: {
    loaded: boolean;
    engine: string;
    model_name: string;
    device: string;
    last_used: string | null;
    /** Which native build runs the model, once loaded (whisper.cpp). */
    build?: string;
  };
  concurrency: {
    active_requests: number;
    max_concurrent: number;
    available_slots: number;
    queued: number;
    max_queue: number;
  };
  memory: { percent: number; available_mb: number; total_mb: number; threshold_percent: number };
  swap: { percent: number; used_mb: number; total_mb: number; threshold_percent: number };
  config: { idle_timeout_minutes: number; max_upload_mb: number };
}

export async function detailedHealth(baseUrl: string): Promise<DetailedHealth> {
  return (await http(`${baseUrl}/health/detailed`)).json<DetailedHealth>();
}

/** Polls /health/detailed while `work` runs; returns the peaks seen. */
export async function samplePeaks<T>(baseUrl: string, work: Promise<T>, intervalMs = 10) {
  let peakActive = 0;
  let peakQueued = 0;
  let done = false;
  const sampler = (async () => {
    while (!done) {
      const health = await detailedHealth(baseUrl);
      peakActive = Math.max(peakActive, health.concurrency.active_requests);
      peakQueued = Math.max(peakQueued, health.concurrency.queued);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  try {
    return { result: await work, peaks: () => ({ peakActive, peakQueued }) };
  } finally {
    done = true;
    await sampler;
  }
}

/** A multipart POST as browsers and the OpenAI SDKs send it: fields, and at most one file. */
export async function postForm(
  url: string,
  fields: Record<string, string | string[]>,
  file?: { field: string; data: Buffer; name: string },
) {
  const form = new FormData();
  if (file) form.append(file.field, new Blob([new Uint8Array(file.data)]), file.name);
  for (const [key, value] of Object.entries(fields)) {
    for (const item of Array.isArray(value) ? value : [value]) form.append(key, item);
  }
  const response = await request(url, { method: 'POST', body: form });
  const body = Buffer.from(await response.body.arrayBuffer());
  return {
    status: response.statusCode,
    headers: response.headers,
    text: body.toString('utf8'),
    json: <T = Record<string, unknown>>() => JSON.parse(body.toString('utf8')) as T,
  };
}
