import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startStubServer } from './stub-speech-server.js';

/** The entry next to this file: .ts under tsx, .js once compiled to dist. */
function entryCommand(): string[] {
  const here = fileURLToPath(import.meta.url);
  const entry = here.replace(/sigint\.test\.(ts|js)$/, 'load-test-main.$1');
  return here.endsWith('.ts') ? ['--import', 'tsx', entry] : [entry];
}

test('Ctrl-C prints the partial summary and exits 130', async () => {
  const stub = await startStubServer({ slots: 1, serviceMs: 100 });
  try {
    const child = spawn(
      process.execPath,
      [
        ...entryCommand(),
        'load-test',
        '--service',
        'tts',
        '--tts-host',
        stub.url,
        '--requests',
        '10000',
        '--verbose',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let interrupted = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      // One Ctrl-C once a few requests have completed (a second one would mean "quit now").
      if (!interrupted && (stdout.match(/^\[tts #/gm) ?? []).length >= 3) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 130);
    assert.match(stdout, /TTS Load Test Results\n={20}\nTotal Requests: +\d+/);
    assert.match(stdout, /Run interrupted: partial results/);
  } finally {
    await stub.close();
  }
});
