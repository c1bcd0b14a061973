import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { cleanStderr, FfmpegError, ffmpegAvailable, runFfmpeg } from '../../src/audio/ffmpeg.js';

describe('runFfmpeg', () => {
  it('reports ffmpeg as available', async () => {
    assert.equal(await ffmpegAvailable(), true);
  });

  it('collects stdout into one exactly sized buffer', async () => {
    const output = await runFfmpeg({
      args: ['-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono', '-t', '2', '-f', 's16le', 'pipe:1'],
      timeoutMs: 10_000,
    });
    assert.equal(output.byteLength, 2 * 8000 * 2);
    assert.equal(output.byteOffset, 0);
    assert.equal(output.buffer.byteLength, output.byteLength);
  });

  it("fails with ffmpeg's own message, and survives EPIPE when ffmpeg stops reading", async () => {
    const run = runFfmpeg({
      args: ['-i', 'pipe:0', '-f', 'null', '-'],
      stdin: randomBytes(16 * 1024 * 1024),
      timeoutMs: 10_000,
    });
    await assert.rejects(run, (error: unknown) => {
      assert.ok(error instanceof FfmpegError);
      assert.equal(error.failure, 'exit');
      assert.match(error.detail, /Invalid data|could not find codec|Invalid argument|error/i);
      return true;
    });
  });

  it('kills ffmpeg at the time limit', async () => {
    const started = Date.now();
    const run = runFfmpeg({
      args: ['-re', '-f', 'lavfi', '-i', 'anullsrc', '-f', 'null', '-'],
      timeoutMs: 300,
    });
    await assert.rejects(run, { failure: 'timeout' });
    assert.ok(Date.now() - started < 5000);
  });

  it('kills ffmpeg once the output passes the limit', async () => {
    const run = runFfmpeg({
      args: ['-f', 'lavfi', '-i', 'anullsrc', '-t', '60', '-f', 's16le', 'pipe:1'],
      timeoutMs: 10_000,
      maxOutputBytes: 100_000,
    });
    await assert.rejects(run, { failure: 'output-limit' });
  });

  it('rejects at once when the signal is already aborted', async () => {
    await assert.rejects(
      runFfmpeg({ args: ['-version'], timeoutMs: 1000, signal: AbortSignal.abort(new Error('gone')) }),
      /gone/,
    );
  });
});

describe('cleanStderr', () => {
  it('drops codec addresses, pipe names and redacted strings', () => {
    const stderr =
      '[mp3 @ 0x55d0c0ffee00] Header missing\n/tmp/secret/file.mp3: Invalid data\npipe:0: End of file\n\n';
    assert.deepEqual(cleanStderr(stderr, ['/tmp/secret/file.mp3']), [
      'Header missing',
      'input: Invalid data',
      'End of file',
    ]);
  });
});
