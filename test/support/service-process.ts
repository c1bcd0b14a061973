import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** The compiled CLI, as a user runs it (tests run from dist/test/). */
export const CLI_PATH = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

/**
 * A real `voice-stack serve …` process on free ports, with its JSON log lines
 * collected so tests can assert what an operator would read.
 */
export class ServiceProcess {
  readonly logs: LogLine[] = [];
  readonly urls = new Map<string, string>();
  private stdoutRest = '';
  /** Everything the process wrote, for tests that look for what is not a log line. */
  stdout = '';
  stderr = '';
  exitCode: number | null = null;
  readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => this.onStdout(chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString('utf8');
    });
    this.exited = once(child, 'exit').then(([code]) => {
      this.exitCode = code as number | null;
      return this.exitCode;
    });
  }

  static async start(args: string[], env: Record<string, string> = {}): Promise<ServiceProcess> {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        HOST: '127.0.0.1',
        ASR_PORT: '0',
        TTS_PORT: '0',
        LOG_LEVEL: 'debug',
        // Off unless a test asks: the default ports (10300, 10200) would collide between test runs.
        WYOMING_ASR_PORT: 'off',
        WYOMING_TTS_PORT: 'off',
        VOICE_STACK_ENV_FILE: '/nonexistent/.env',
        // Where a test run points Node at extra packages (e.g. one not yet in node_modules).
        ...(process.env.NODE_PATH === undefined ? {} : { NODE_PATH: process.env.NODE_PATH }),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const service = new ServiceProcess(child);
    const expected = args[1] === 'asr' || args[1] === 'tts' ? 1 : 2;
    try {
      await service.waitFor(() => service.urls.size >= expected, 20_000, 'services to listen');
    } catch (error) {
      // Never leave a half-started server running behind a failed test.
      await service.stop();
      throw error;
    }
    return service;
  }

  private onStdout(text: string): void {
    this.stdout += text;
    const lines = (this.stdoutRest + text).split('\n');
    this.stdoutRest = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const entry = JSON.parse(line) as LogLine;
        this.logs.push(entry);
        if (entry.event === 'listening' && typeof entry.address === 'string') {
          this.urls.set(String(entry.service), entry.address);
        }
      } catch {
        // not a log line
      }
    }
  }

  url(service: 'asr' | 'tts'): string {
    const url = this.urls.get(service);
    if (url === undefined) throw new Error(`${service} is not listening`);
    return url;
  }

  async waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (this.exitCode !== null)
        throw new Error(`service exited (${this.exitCode}) waiting for ${what}: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  logsWith(field: string, value: unknown): LogLine[] {
    return this.logs.filter((l) => l[field] === value);
  }

  async stop(): Promise<void> {
    if (this.exitCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
