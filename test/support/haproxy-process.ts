import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

/** The shipped configuration: tests run this file, its addresses set through the environment. */
export const HAPROXY_CONFIG = fileURLToPath(new URL('../../../deploy/haproxy/haproxy.cfg', import.meta.url));

/** Debian installs HAProxy in /usr/sbin, which a user's PATH often lacks. */
export function haproxyBinary(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    const candidate = join(dir, 'haproxy');
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  throw new Error('haproxy is not installed (scripts/install-deps.sh --test installs it)');
}

/** A port nothing listens on right now (the OS picks it, then it is released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One bounded GET on a fresh connection: a check must never hang a test. */
async function get(url: string): Promise<{ status: number; text: string }> {
  const response = await request(url, {
    headers: { connection: 'close' },
    headersTimeout: 5000,
    bodyTimeout: 5000,
  });
  return { status: response.statusCode, text: await response.body.text() };
}

/** A real `haproxy -db -f deploy/haproxy/haproxy.cfg`, its stats page on a free loopback port. */
export class HaproxyProcess {
  output = '';
  exitCode: number | null = null;
  readonly exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly statsUrl: string,
  ) {
    const collect = (chunk: Buffer) => {
      this.output += chunk.toString('utf8');
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.on('error', (error) => {
      this.output += String(error);
    });
    this.exited = once(child, 'exit').then(([code]) => {
      this.exitCode = code as number | null;
      return this.exitCode;
    });
  }

  /** `env` sets the LB_* variables the configuration reads; LB_STATS_BIND is chosen here. */
  static async start(env: Record<string, string>): Promise<HaproxyProcess> {
    const statsPort = await freePort();
    const child = spawn(haproxyBinary(), ['-db', '-f', HAPROXY_CONFIG], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env, LB_STATS_BIND: `127.0.0.1:${statsPort}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lb = new HaproxyProcess(child, `http://127.0.0.1:${statsPort}`);
    try {
      await lb.waitFor('haproxy to answer /health', async () => {
        try {
          return (await get(`${lb.statsUrl}/health`)).status === 200;
        } catch {
          return false;
        }
      });
    } catch (error) {
      await lb.stop();
      throw error;
    }
    return lb;
  }

  /** `backend/server` → status as the stats page shows it (`UP`, `DOWN`, `UP 1/2`, …). */
  async serverStates(): Promise<Map<string, string>> {
    const [header = '', ...rows] = (await get(`${this.statsUrl}/stats;csv`)).text.trim().split('\n');
    const columns = header.replace(/^# /, '').split(',');
    const name = columns.indexOf('pxname');
    const server = columns.indexOf('svname');
    const status = columns.indexOf('status');
    const states = new Map<string, string>();
    for (const row of rows) {
      const cells = row.split(',');
      states.set(`${cells[name]}/${cells[server]}`, cells[status] ?? '');
    }
    return states;
  }

  async waitForState(server: string, state: 'UP' | 'DOWN', timeoutMs = 15_000): Promise<void> {
    await this.waitFor(
      `${server} ${state}`,
      async () => (await this.serverStates()).get(server) === state,
      timeoutMs,
    );
  }

  async waitFor(what: string, predicate: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await predicate())) {
      if (this.exitCode !== null) throw new Error(`haproxy exited (${this.exitCode}): ${this.output}`);
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}; haproxy said:\n${this.output}`);
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    if (this.exitCode !== null || this.child.pid === undefined) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
