import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot, tempDir } from './cli-harness.js';

export interface RunningService {
  url: string;
  stop: () => Promise<void>;
}

/** The built CLI; VOICE_STACK_MAIN points elsewhere (e.g. another worktree's build). */
export function voiceStackMain(): string {
  return process.env.VOICE_STACK_MAIN ?? join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
}

export function serviceAvailable(): boolean {
  return existsSync(voiceStackMain());
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

/** `voice-stack serve tts` on a free 127.0.0.1 port with the given settings, ready when /health answers. */
export async function startTtsService(settings: Record<string, string> = {}): Promise<RunningService> {
  const port = await freePort();
  const child = spawn(process.execPath, [voiceStackMain(), 'serve', 'tts'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: '127.0.0.1',
      TTS_PORT: String(port),
      ASR_PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
      MODEL_CACHE_DIR: await tempDir('vs-tts-cache-'),
      ...settings,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHealth(url, child, () => stderr);
  return { url, stop: () => stop(child) };
}

async function waitForHealth(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  for (let attempt = 0; attempt < 150; attempt++) {
    if (child.exitCode !== null) throw new Error(`the TTS service exited (${child.exitCode}): ${stderr()}`);
    const ok = await fetch(`${url}/health`).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`the TTS service did not answer /health within 15 s: ${stderr()}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
