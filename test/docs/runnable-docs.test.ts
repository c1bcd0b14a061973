/**
 * Every ```bash runnable block in docs/ runs here against live ASR and TTS servers
 * (ASR on a generated whisper.cpp model), so the docs cannot rot. Blocks address
 * the servers as a reader would (localhost:5001, localhost:5002)
 * and call `voice-stack`; the test points both at what it started. A block fails
 * when any command in it fails (`set -euo pipefail`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseSettings } from '../../src/core/settings.js';
import { effectiveSettings } from '../../src/ops/doctor.js';
import { testWhisperModel } from '../support/fixtures.js';
import { OPS_CLI } from '../support/ops-cli-process.js';
import { CLI_PATH, ServiceProcess } from '../support/service-process.js';

const DOCS_DIR = fileURLToPath(new URL('../../../docs/', import.meta.url));
const TTS_ADDRESS = /(?:http:\/\/)?localhost:5002/g;
const ASR_ADDRESS = /(?:http:\/\/)?localhost:5001/g;

interface Block {
  readonly file: string;
  readonly line: number;
  readonly code: string;
}

export function runnableBlocks(markdown: string, file: string): Block[] {
  const blocks: Block[] = [];
  const fence = /^```bash runnable\s*\n([\s\S]*?)^```\s*$/gm;
  for (const match of markdown.matchAll(fence)) {
    const line = markdown.slice(0, match.index).split('\n').length;
    blocks.push({ file, line, code: match[1] ?? '' });
  }
  return blocks;
}

function docFiles(): string[] {
  return readdirSync(DOCS_DIR)
    .filter((name) => name.endsWith('.md'))
    .sort();
}

const blocks = docFiles().flatMap((file) => runnableBlocks(readFileSync(join(DOCS_DIR, file), 'utf8'), file));

/** `voice-stack` on PATH: the real CLI, and the operations commands until it wires them. */
function makeShim(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vs-docs-bin-'));
  const shim = join(dir, 'voice-stack');
  writeFileSync(
    shim,
    [
      '#!/bin/bash',
      'case "$1" in',
      `  install-service|uninstall-service|doctor) exec "${process.execPath}" "${OPS_CLI}" "$@" ;;`,
      `  *) exec "${process.execPath}" "${CLI_PATH}" "$@" ;;`,
      'esac',
      '',
    ].join('\n'),
  );
  chmodSync(shim, 0o755);
  return dir;
}

describe('docs: runnable blocks', () => {
  let server: ServiceProcess;
  let binDir: string;
  before(async () => {
    server = await ServiceProcess.start(['serve'], { ASR_MODEL: await testWhisperModel() });
    binDir = makeShim();
  });
  after(() => server.stop());

  test('the docs hold runnable blocks for both services', () => {
    assert.ok(blocks.length >= 8, `${blocks.length} runnable blocks`);
    assert.ok(blocks.filter((b) => b.code.includes('localhost:5001')).length >= 3, 'ASR examples run too');
  });

  for (const block of blocks) {
    test(`${block.file}:${block.line}`, () => {
      const cwd = mkdtempSync(join(tmpdir(), 'vs-docs-run-'));
      const code = block.code.replace(TTS_ADDRESS, server.url('tts')).replace(ASR_ADDRESS, server.url('asr'));
      const result = spawnSync('bash', ['-c', `set -euo pipefail\n${code}`], {
        cwd,
        encoding: 'utf8',
        timeout: 120_000,
        env: {
          PATH: `${binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
          HOME: cwd,
          VOICE_STACK_ENV_FILE: join(cwd, '.env'),
        },
      });
      assert.equal(
        result.status,
        0,
        `exit ${result.status}\n${code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`,
      );
    });
  }
});

describe('docs: coverage', () => {
  test('CONFIGURATION.md describes every setting', () => {
    const text = readFileSync(join(DOCS_DIR, 'CONFIGURATION.md'), 'utf8');
    const missing = Object.keys(effectiveSettings(parseSettings({}))).filter(
      (name) => !text.includes(`\`${name}\``),
    );
    assert.deepEqual(missing, []);
  });

  test('the block extractor finds marked blocks only', () => {
    const sample = '```bash\necho no\n```\n\n```bash runnable\necho yes\n```\n';
    assert.deepEqual(runnableBlocks(sample, 'x.md'), [{ file: 'x.md', line: 5, code: 'echo yes\n' }]);
  });
});
