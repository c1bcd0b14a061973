import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { testWhisperModel } from '../support/fixtures.js';
import { http } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

/** The repository root (tests run from dist/test/ops/). */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** What node and Fastify print for a deprecated option or API (FSTDEP023 was one). */
const WARNING = /FSTDEP\d*|DeprecationWarning|\(node:\d+\)|Warning:/;

function firstWarning(text: string): string | undefined {
  return text.split('\n').find((line) => WARNING.test(line));
}

describe('start-up noise (issue 11, item 9)', () => {
  let server: ServiceProcess;

  before(async () => {
    // INFO, not debug: an operator's default, and Fastify warns at start-up whatever the level.
    server = await ServiceProcess.start(['serve'], {
      ASR_MODEL: await testWhisperModel(),
      LOG_LEVEL: 'info',
    });
  });
  after(() => server.stop());

  it('serve prints no deprecation or node warning once listening', () => {
    assert.equal(firstWarning(server.stderr), undefined, server.stderr);
    assert.equal(firstWarning(server.stdout), undefined);
  });

  it('nor after a request to each service', async () => {
    for (const service of ['asr', 'tts'] as const) {
      assert.equal((await http(`${server.url(service)}/health`)).status, 200);
    }
    const speech = await http(`${server.url('tts')}/v1/audio/speech`, {
      json: { model: 'tts-1', input: 'Hello.', voice: 'alloy', response_format: 'wav' },
    });
    assert.equal(speech.status, 200);
    // Warnings are printed on the next tick of the server's loop; give it a moment to show one.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(firstWarning(server.stderr), undefined, server.stderr);
    assert.equal(firstWarning(server.stdout), undefined);
    assert.equal(server.exitCode, null);
  });
});

describe('npm in the repository', () => {
  it('prints no "Unknown env config" (the onnxruntime skip lives in the installer variable, not .npmrc)', () => {
    // npm_config_* from an outer `npm test` would be npm's own settings, not this repository's.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
    // `npm --version` reads no project config; `npm config get` does, as every script run does.
    const result = spawnSync('npm', ['config', 'get', 'registry'], {
      cwd: REPO_ROOT,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /Unknown (env|project|user|global) config/);
    assert.match(result.stdout, /^https?:\/\//);
  });
});
