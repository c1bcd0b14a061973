import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { registerLoadTestCommand } from '../../src/cli/load-test-command.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

/** `voice-stack load-test …` in this process, with its output captured. */
export async function runLoadTestCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  signal?: AbortSignal,
): Promise<CliRun> {
  const stdout = capture();
  const stderr = capture();
  let code = -1;
  const program = new Command().exitOverride();
  registerLoadTestCommand(program, {
    stdout: stdout.stream,
    stderr: stderr.stream,
    env,
    signal: signal ?? new AbortController().signal,
    exit: (exitCode) => {
      code = exitCode;
    },
  });
  await program.parseAsync(['node', 'voice-stack', 'load-test', '--no-progress', ...args]);
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

/** The repository root, found from this file so the tests run from src (tsx) and from dist alike. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

/** Test artefacts (reports, screenshots) go to test-output/, kept after the run for a person to look at. */
export async function outputDir(name: string): Promise<string> {
  const { mkdir } = await import('node:fs/promises');
  const dir = join(repoRoot(), 'test-output', name);
  await mkdir(dir, { recursive: true });
  return dir;
}

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}
