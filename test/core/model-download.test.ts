import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DownloadError,
  type DownloadFileOptions,
  downloadFile,
  PART_SUFFIX,
  parseContentRange,
} from '../../src/core/models/model-download.js';

const DATA = randomBytes(1 << 20);
const SHA256 = createHash('sha256').update(DATA).digest('hex');
const SHA1 = createHash('sha1').update(DATA).digest('hex');
const MD5 = createHash('md5').update(DATA).digest('hex');

interface Behaviour {
  ignoreRange?: boolean;
  /** Body bytes to send before cutting the connection, by request index. */
  cutAfter?: Record<number, number>;
  /** Status to answer instead of the file, by request index. */
  statusFor?: Record<number, number>;
}

/** A file server on 127.0.0.1 with Range support that can misbehave on cue. */
class TestServer {
  readonly requests: IncomingHttpHeaders[] = [];
  behaviour: Behaviour = {};
  readonly #server: Server = createServer((req, res) => {
    const index = this.requests.length;
    this.requests.push(req.headers);
    if (req.url === '/redirect') {
      res.writeHead(302, { location: '/file' }).end();
      return;
    }
    const forced = this.behaviour.statusFor?.[index];
    if (forced !== undefined) {
      res.writeHead(forced).end();
      return;
    }
    const start = this.#rangeStart(req.headers.range);
    if (start !== undefined && start >= DATA.length) {
      res.writeHead(416, { 'content-range': `bytes */${DATA.length}` }).end();
      return;
    }
    if (start === undefined) res.writeHead(200, { 'content-length': DATA.length });
    else {
      res.writeHead(206, {
        'content-length': DATA.length - start,
        'content-range': `bytes ${start}-${DATA.length - 1}/${DATA.length}`,
      });
    }
    const body = DATA.subarray(start ?? 0);
    const cut = this.behaviour.cutAfter?.[index];
    if (cut === undefined) res.end(body);
    else res.write(body.subarray(0, cut), () => res.socket?.destroy());
  });

  #rangeStart(range: string | undefined): number | undefined {
    const match = this.behaviour.ignoreRange ? null : /^bytes=(\d+)-$/.exec(range ?? '');
    return match ? Number(match[1]) : undefined;
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  reset(behaviour: Behaviour = {}): void {
    this.requests.length = 0;
    this.behaviour = behaviour;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

describe('downloadFile', () => {
  const server = new TestServer();
  let base = '';
  let dir = '';

  before(async () => {
    base = await server.start();
    dir = await mkdtemp(join(tmpdir(), 'vs-download-'));
  });
  after(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function target(name: string): string {
    return join(dir, name);
  }

  function options(name: string, extra: Partial<DownloadFileOptions> = {}): DownloadFileOptions {
    return {
      url: `${base}/file`,
      destination: target(name),
      expectedSize: DATA.length,
      sha256: SHA256,
      retryDelayMs: 5,
      fetchTimeoutMs: 5_000,
      ...extra,
    };
  }

  async function assertComplete(name: string): Promise<void> {
    assert.ok((await readFile(target(name))).equals(DATA), 'final file matches the served bytes');
    assert.ok(!(await readdir(dir)).includes(name + PART_SUFFIX), 'no .part left behind');
  }

  it('downloads, verifies and renames into place, with monotonic progress', async () => {
    server.reset();
    const seen: number[] = [];
    const result = await downloadFile(
      options('plain.bin', { onProgress: (p) => seen.push(p.receivedBytes) }),
    );
    assert.equal(result.sha256, SHA256);
    assert.equal(result.sizeBytes, DATA.length);
    await assertComplete('plain.bin');
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => a - b),
    );
    assert.equal(seen.at(-1), DATA.length);
    assert.equal(server.requests[0]?.range, undefined);
  });

  it('resumes with a Range request after the connection is cut', async () => {
    server.reset({ cutAfter: { 0: 300_000 } });
    const seen: number[] = [];
    await downloadFile(options('cut.bin', { onProgress: (p) => seen.push(p.receivedBytes) }));
    await assertComplete('cut.bin');
    assert.equal(server.requests.length, 2);
    const range = server.requests[1]?.range;
    assert.match(range ?? '', /^bytes=\d+-$/, 'second request carried a Range header');
    assert.ok(Number(range?.slice(6, -1)) > 0);
    for (let i = 1; i < seen.length; i++)
      assert.ok((seen[i] ?? 0) >= (seen[i - 1] ?? 0), 'progress monotonic');
    assert.equal(seen.at(-1), DATA.length);
  });

  it('continues a .part left by an earlier process', async () => {
    server.reset();
    await writeFile(target('restart.bin') + PART_SUFFIX, DATA.subarray(0, 400_000));
    const seen: number[] = [];
    await downloadFile(options('restart.bin', { onProgress: (p) => seen.push(p.resumedFromBytes) }));
    await assertComplete('restart.bin');
    assert.equal(server.requests[0]?.range, 'bytes=400000-');
    assert.equal(seen[0], 400_000);
  });

  it('starts over cleanly when the server ignores Range', async () => {
    server.reset({ ignoreRange: true });
    await writeFile(target('norange.bin') + PART_SUFFIX, Buffer.alloc(250_000, 7));
    await downloadFile(options('norange.bin'));
    await assertComplete('norange.bin');
    assert.equal(server.requests.length, 1);
    assert.equal(server.requests[0]?.range, 'bytes=250000-');
  });

  it('rejects a wrong checksum and deletes the download', async () => {
    server.reset();
    const wrong = 'ab'.repeat(32);
    await assert.rejects(downloadFile(options('bad.bin', { sha256: wrong })), (error: unknown) => {
      assert.ok(error instanceof DownloadError);
      assert.equal(error.code, 'VS_ERR_DOWNLOAD_CHECKSUM');
      assert.match(error.message, /checksum mismatch/);
      return true;
    });
    const left = await readdir(dir);
    assert.ok(!left.includes('bad.bin') && !left.includes(`bad.bin${PART_SUFFIX}`));
  });

  it('verifies a SHA-1 when that is all that is published', async () => {
    server.reset();
    await downloadFile(options('sha1.bin', { sha256: undefined, sha1: SHA1.toUpperCase() }));
    await assertComplete('sha1.bin');
    await assert.rejects(downloadFile(options('sha1-bad.bin', { sha256: undefined, sha1: '0'.repeat(40) })), {
      code: 'VS_ERR_DOWNLOAD_CHECKSUM',
    });
  });

  it('verifies an MD5 when that is all that is published (Piper voices), also across a resume', async () => {
    server.reset({ cutAfter: { 0: 300_000 } });
    await downloadFile(options('md5.bin', { sha256: undefined, md5: MD5 }));
    await assertComplete('md5.bin');
    assert.equal(server.requests.length, 2, 'the second request resumed the first');
    server.reset();
    await assert.rejects(downloadFile(options('md5-bad.bin', { sha256: undefined, md5: 'f'.repeat(32) })), {
      code: 'VS_ERR_DOWNLOAD_CHECKSUM',
    });
    assert.ok(!(await readdir(dir)).some((name) => name.startsWith('md5-bad.bin')));
  });

  it('rejects a server whose file size differs from the expected one, before downloading it', async () => {
    server.reset();
    await assert.rejects(downloadFile(options('size.bin', { expectedSize: DATA.length + 1 })), {
      code: 'VS_ERR_DOWNLOAD_SIZE',
    });
    assert.ok(!(await readdir(dir)).some((name) => name.startsWith('size.bin')));
  });

  it('replaces a stale complete .part whose bytes no longer match', async () => {
    server.reset();
    await writeFile(target('stale.bin') + PART_SUFFIX, Buffer.alloc(DATA.length, 1));
    await downloadFile(options('stale.bin'));
    await assertComplete('stale.bin');
    assert.equal(server.requests.length, 1, 'one fresh download after the stale part failed verification');
  });

  it('fails on HTTP 404 without retrying', async () => {
    server.reset({ statusFor: { 0: 404 } });
    await assert.rejects(downloadFile(options('missing.bin')), (error: unknown) => {
      assert.ok(error instanceof DownloadError);
      assert.equal(error.code, 'VS_ERR_DOWNLOAD_HTTP');
      assert.equal(error.statusCode, 404);
      return true;
    });
    assert.equal(server.requests.length, 1);
  });

  it('retries a 503 and then succeeds', async () => {
    server.reset({ statusFor: { 0: 503, 1: 503 } });
    await downloadFile(options('flaky.bin'));
    await assertComplete('flaky.bin');
    assert.equal(server.requests.length, 3);
  });

  it('gives up after a bounded number of cut connections, keeping the .part', async () => {
    server.reset({ cutAfter: { 0: 1000, 1: 1000, 2: 1000, 3: 1000 } });
    await assert.rejects(downloadFile(options('cuts.bin', { maxRetries: 2 })), {
      code: 'VS_ERR_DOWNLOAD_NETWORK',
    });
    assert.equal(server.requests.length, 3);
    assert.ok((await readdir(dir)).includes(`cuts.bin${PART_SUFFIX}`), 'the .part stays for a later resume');
  });

  it('follows redirects (Hugging Face answers with one)', async () => {
    server.reset();
    await downloadFile(options('redirect.bin', { url: `${base}/redirect` }));
    await assertComplete('redirect.bin');
  });

  it('stops when aborted and keeps the .part', async () => {
    server.reset({ cutAfter: { 0: 100_000 } });
    const controller = new AbortController();
    const promise = downloadFile(
      options('abort.bin', {
        signal: controller.signal,
        retryDelayMs: 10_000,
        onProgress: () => controller.abort(),
      }),
    );
    await assert.rejects(promise, { code: 'VS_ERR_DOWNLOAD_ABORTED' });
    assert.ok((await readdir(dir)).includes(`abort.bin${PART_SUFFIX}`));
  });
});

describe('parseContentRange', () => {
  it('reads start and total', () => {
    assert.deepEqual(parseContentRange('bytes 100-199/1000'), { start: 100, total: 1000 });
    assert.deepEqual(parseContentRange('bytes */1000'), { start: undefined, total: 1000 });
    assert.deepEqual(parseContentRange('bytes 0-9/*'), { start: 0, total: undefined });
    assert.equal(parseContentRange('items 1-2/3'), undefined);
    assert.equal(parseContentRange(undefined), undefined);
  });
});
