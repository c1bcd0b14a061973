import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';

/**
 * Streams `totalBytes` to a server and stops as soon as it answers or closes the
 * connection; reports how much was written. Used to check that an over-limit body
 * is cut off early rather than read to its end.
 */
export function streamUpload(
  url: string,
  totalBytes: number,
  options: { chunked: boolean; contentType: string; preamble?: string },
): Promise<{ status: number | undefined; body: string; bytesWritten: number }> {
  return new Promise((resolve) => {
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let bytesWritten = 0;
    let finished = false;
    let status: number | undefined;
    let body = '';
    const headers: Record<string, string> = { 'content-type': options.contentType };
    if (!options.chunked) headers['content-length'] = String(totalBytes);
    const req = httpRequest(url, { method: 'POST', headers });
    const finish = () => {
      if (finished) return;
      finished = true;
      req.destroy();
      resolve({ status, body, bytesWritten });
    };
    req.on('response', (res) => {
      status = res.statusCode;
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', finish);
      res.on('error', finish);
    });
    // A write can fail (EPIPE) when the server closes right after answering, a moment
    // before the answer is parsed here: give the response time to arrive.
    req.on('error', () => setTimeout(finish, 1000));
    req.on('close', () => setTimeout(finish, 1000));
    const pump = () => {
      while (!finished && status === undefined && bytesWritten < totalBytes) {
        const size = Math.min(chunk.length, totalBytes - bytesWritten);
        bytesWritten += size;
        if (!req.write(size === chunk.length ? chunk : chunk.subarray(0, size))) {
          req.once('drain', pump);
          return;
        }
      }
      if (bytesWritten >= totalBytes) req.end();
    };
    if (options.preamble) req.write(options.preamble);
    pump();
  });
}

/**
 * Checks one over-limit upload: the client reads a 413 `File too large`, stopped
 * sending early, and the server logged the refusal with its reason.
 */
export async function assertRefusedTooLarge(
  server: {
    logsWith(field: string, value: unknown): unknown[];
    waitFor(p: () => boolean, ms: number, what: string): Promise<void>;
  },
  upload: () => ReturnType<typeof streamUpload>,
  options: { totalBytes: number; chunked: boolean },
): Promise<void> {
  const refusedBefore = server.logsWith('reason', 'file_too_large').length;
  const result = await upload();
  await server.waitFor(
    () => server.logsWith('reason', 'file_too_large').length > refusedBefore,
    5000,
    'the 413 in the server log',
  );
  assert.equal(result.status, 413, `chunked=${options.chunked}: ${result.body}`);
  assert.match(JSON.parse(result.body).error.message, /^File too large/);
  assert.ok(
    result.bytesWritten < options.totalBytes,
    `chunked=${options.chunked}: stopped early (${result.bytesWritten} bytes)`,
  );
}
