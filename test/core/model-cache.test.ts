import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type CacheableModel, ModelCache } from '../../src/core/models/model-cache.js';
import { PART_SUFFIX } from '../../src/core/models/model-download.js';

const DATA = randomBytes(256 * 1024);
const SHA256 = createHash('sha256').update(DATA).digest('hex');

describe('ModelCache', () => {
  let requests = 0;
  let base = '';
  let root = '';
  const server: Server = createServer((_req, res) => {
    requests += 1;
    res.writeHead(200, { 'content-length': DATA.length }).end(DATA);
  });

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(async () => {
    requests = 0;
    if (root) await rm(root, { recursive: true, force: true });
    root = await mkdtemp(join(tmpdir(), 'vs-cache-'));
  });

  function entry(overrides: Partial<CacheableModel> = {}): CacheableModel {
    return {
      family: 'whisper',
      name: 'test',
      fileName: 'ggml-test.bin',
      url: `${base}/ggml-test.bin`,
      sizeBytes: DATA.length,
      sha256: SHA256,
      ...overrides,
    };
  }

  it('places entries in a subfolder per family', () => {
    const cache = new ModelCache(root);
    assert.equal(cache.pathFor(entry()), join(root, 'whisper', 'ggml-test.bin'));
    assert.equal(
      cache.pathFor(entry({ family: 'piper', fileName: 'en_US-amy.onnx' })),
      join(root, 'piper', 'en_US-amy.onnx'),
    );
  });

  it('rejects names that could escape the cache folder', () => {
    const cache = new ModelCache(root);
    for (const fileName of [
      '../x',
      '..',
      '.',
      'a/b',
      'a\\b',
      '/etc/passwd',
      '.hidden',
      '',
      'x/../../y',
      'a..b',
    ]) {
      assert.throws(() => cache.pathFor(entry({ fileName })), { code: 'VS_ERR_INVALID_PARAMETER' }, fileName);
    }
    assert.throws(() => cache.pathFor(entry({ family: '../etc' as CacheableModel['family'] })), {
      code: 'VS_ERR_INVALID_PARAMETER',
    });
  });

  it('rejects an escaping name on remove as well', async () => {
    const cache = new ModelCache(root);
    await assert.rejects(cache.remove({ family: 'whisper', fileName: '../x' }), {
      code: 'VS_ERR_INVALID_PARAMETER',
    });
  });

  it('downloads on ensure when missing, then serves from the cache', async () => {
    const cache = new ModelCache(root);
    assert.equal(await cache.isCached(entry()), false);
    const progress: number[] = [];
    const path = await cache.ensure(entry(), { onProgress: (p) => progress.push(p.receivedBytes) });
    assert.ok((await readFile(path)).equals(DATA));
    assert.equal(progress.at(-1), DATA.length);
    assert.equal(await cache.isCached(entry()), true);
    assert.equal(await cache.ensure(entry()), path);
    assert.equal(requests, 1, 'a cached file is not downloaded again');
  });

  it('shares one download between concurrent callers', async () => {
    const cache = new ModelCache(root);
    const paths = await Promise.all([cache.ensure(entry()), cache.ensure(entry()), cache.ensure(entry())]);
    assert.equal(new Set(paths).size, 1);
    assert.equal(requests, 1);
  });

  it('leaves neither the file nor the .part behind on a wrong checksum', async () => {
    const cache = new ModelCache(root);
    await assert.rejects(cache.ensure(entry({ sha256: 'f'.repeat(64) })), {
      code: 'VS_ERR_DOWNLOAD_CHECKSUM',
    });
    assert.deepEqual(await readdir(join(root, 'whisper')), []);
    assert.equal(await cache.isCached(entry()), false);
  });

  it('does not count a file of the wrong size as cached', async () => {
    const cache = new ModelCache(root);
    await mkdir(join(root, 'whisper'), { recursive: true });
    await writeFile(cache.pathFor(entry()), DATA.subarray(0, 10));
    assert.equal(await cache.isCached(entry()), false);
  });

  it('lists files with sizes and marks partial downloads', async () => {
    const cache = new ModelCache(root);
    await cache.ensure(entry());
    await mkdir(join(root, 'kokoro'), { recursive: true });
    await writeFile(join(root, 'kokoro', `voice.bin${PART_SUFFIX}`), Buffer.alloc(42));
    const files = await cache.list();
    assert.deepEqual(
      files.map((f) => [f.family, f.fileName, f.sizeBytes, f.partial]),
      [
        ['whisper', 'ggml-test.bin', DATA.length, false],
        ['kokoro', 'voice.bin', 42, true],
      ],
    );
    assert.equal(await cache.partialBytes(entry({ family: 'kokoro', fileName: 'voice.bin' })), 42);
  });

  it('removes a file and its partial download', async () => {
    const cache = new ModelCache(root);
    const path = await cache.ensure(entry());
    await writeFile(path + PART_SUFFIX, Buffer.alloc(3));
    assert.equal(await cache.remove(entry()), true);
    assert.deepEqual(await readdir(join(root, 'whisper')), []);
    assert.equal(await cache.remove(entry()), false);
  });
});
