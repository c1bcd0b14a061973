import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findWhisperModel } from '../../src/asr/model-catalog.js';
import type { DoctorReport } from '../../src/ops/doctor.js';
import { runCli } from '../support/ops-cli-process.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'vs-doctor-cache-'));
mkdirSync(join(cacheDir, 'whisper'));
// A sparse file of the catalog size: the cache accepts a file by its size.
const tinyEn = join(cacheDir, 'whisper', 'ggml-tiny.en.bin');
writeFileSync(tinyEn, '');
truncateSync(tinyEn, findWhisperModel('tiny.en')?.sizeBytes ?? 0);

let busy: Server;
let busyPort = 0;

before(async () => {
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const address = busy.address();
  busyPort = typeof address === 'object' && address !== null ? address.port : 0;
});
after(() => busy.close());

function doctorEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    TTS_PORT: String(busyPort),
    ASR_PORT: '0',
    MODEL_CACHE_DIR: cacheDir,
    API_KEY: 'correct-horse-battery-staple',
    ...extra,
  };
}

describe('voice-stack doctor', () => {
  test('prints the machine, the tools and the settings, with the API key hidden', () => {
    const result = runCli(['doctor'], { env: doctorEnv() });
    for (const label of ['Node:', 'CPU:', 'GPU:', 'Memory:', 'Swap:', 'cgroup:', 'ffmpeg:', 'espeak-ng:']) {
      assert.match(result.stdout, new RegExp(`^${label} +\\S`, 'm'), `missing ${label}`);
    }
    assert.match(result.stdout, new RegExp(`Node: +${process.versions.node.replaceAll('.', '\\.')}`));
    assert.match(result.stdout, /ffmpeg: +ffmpeg version/);
    // The default CPU build: whisper.cpp 1.8.3 prebuilt, with the CPU kernels ggml picked here.
    assert.match(
      result.stdout,
      /whisper\.cpp: +whisper\.cpp 1\.8\.3 prebuilt .*runtime CPU dispatch: [a-z0-9_]+/,
    );
    assert.match(result.stdout, /API_KEY +\(set, hidden\)/);
    assert.doesNotMatch(`${result.stdout}${result.stderr}`, /correct-horse/);
  });

  test('names the bundled build when ASR_WHISPER_BUILD=bundled asks for it', () => {
    const result = runCli(['doctor', '--json'], { env: doctorEnv({ ASR_WHISPER_BUILD: 'bundled' }) });
    const report = JSON.parse(result.stdout) as DoctorReport;
    assert.match(report.whisperBuild ?? '', /^smart-whisper, built here with /);
    assert.equal(report.settings.ASR_WHISPER_BUILD, 'bundled');
  });

  test('reports cached models and a port already taken', () => {
    const result = runCli(['doctor', '--json'], { env: doctorEnv({ ASR_MODEL: 'tiny.en' }) });
    const report = JSON.parse(result.stdout) as DoctorReport;
    assert.deepEqual(report.models.cached, ['whisper/ggml-tiny.en.bin']);
    assert.equal(report.whisperCurrentProblem, undefined);
    assert.equal(report.models.asrModelCached, true);
    assert.deepEqual(report.ports.tts, { port: busyPort, free: false });
    assert.ok(report.findings.some((f) => f.message.includes(`TTS_PORT ${busyPort} is in use`)));
    assert.equal(result.status, 0, 'a busy port is a warning: it may be the running service');
  });

  test('exits 1 and says what to install when ffmpeg and espeak-ng are missing', () => {
    const emptyPath = mkdtempSync(join(tmpdir(), 'vs-empty-path-'));
    const result = runCli(['doctor'], { env: doctorEnv({ PATH: emptyPath }) });
    assert.equal(result.status, 1);
    assert.match(result.stdout, /ffmpeg: +NOT FOUND/);
    assert.match(result.stdout, /ERROR +ffmpeg not found: install it/);
    assert.match(result.stdout, /ERROR +espeak-ng not found/);
  });

  test('names a bad setting and still prints the rest of the report', () => {
    const result = runCli(['doctor'], { env: doctorEnv({ MAX_QUEUE_SIZE: 'lots' }) });
    assert.equal(result.status, 1);
    assert.match(result.stdout, /ERROR +Invalid setting MAX_QUEUE_SIZE="lots"/);
    assert.match(result.stdout, /^Memory: /m);
  });
});
