import { request } from 'undici';

export interface TimedResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  /** Milliseconds from sending the request to the first body byte. */
  readonly firstByteMs: number;
  readonly totalMs: number;
  readonly chunks: number;
}

/** POSTs JSON and reads the body as it arrives, timing the first byte and the end. */
export async function timedPost(url: string, json: unknown): Promise<TimedResponse> {
  const started = performance.now();
  const response = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(json),
  });
  const parts: Buffer[] = [];
  let firstByteMs = Number.NaN;
  for await (const chunk of response.body) {
    if (parts.length === 0) firstByteMs = performance.now() - started;
    parts.push(chunk as Buffer);
  }
  return {
    status: response.statusCode,
    headers: response.headers,
    body: Buffer.concat(parts),
    firstByteMs,
    totalMs: performance.now() - started,
    chunks: parts.length,
  };
}

/** POSTs JSON, waits for the first body bytes, then drops the connection. */
export async function readFirstChunkThenDisconnect(url: string, json: unknown): Promise<number> {
  const controller = new AbortController();
  const response = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(json),
    signal: controller.signal,
  });
  let received = 0;
  try {
    for await (const chunk of response.body) {
      received += (chunk as Buffer).length;
      controller.abort();
    }
  } catch {
    // the abort ends the loop
  }
  return received;
}
