import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

const REDIS_SERVER = '/usr/bin/redis-server';

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * A real redis-server on a free port with its own temporary folder and AOF on (fsync on
 * every write), so a restart on the same folder finds every acknowledged write.
 */
export class RedisServer {
  #child: ChildProcess | undefined;
  #exited: Promise<unknown> | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly appendfsync: 'always' | 'everysec',
  ) {}

  /** `appendfsync: 'everysec'` is what deploy/kubernetes/redis.conf ships (benchmarks); tests keep every write. */
  static async start(options: { appendfsync?: 'always' | 'everysec' } = {}): Promise<RedisServer> {
    const server = new RedisServer(
      await freePort(),
      mkdtempSync(join(tmpdir(), 'voice-stack-redis-')),
      options.appendfsync ?? 'always',
    );
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (again, on the same folder and port) and waits until it answers PING. */
  async restart(): Promise<void> {
    if (this.#child && this.#child.exitCode === null && this.#child.signalCode === null)
      throw new Error('redis-server is running');
    const args = [
      ...['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir],
      ...['--appendonly', 'yes', '--appendfsync', this.appendfsync, '--save', ''],
      ...['--maxmemory-policy', 'noeviction', '--daemonize', 'no'],
    ];
    const child = spawn(REDIS_SERVER, args, { stdio: 'ignore' });
    this.#child = child;
    this.#exited = once(child, 'exit');
    const deadline = Date.now() + 10_000;
    while (true) {
      const client = new Redis(this.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      client.on('error', () => {});
      try {
        await client.connect();
        if ((await client.ping()) === 'PONG') return;
      } catch {
        if (Date.now() > deadline) throw new Error('redis-server did not start');
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        client.disconnect();
      }
    }
  }

  /** Kills the server at once (SIGKILL): what is on disk is what an fsync'd AOF kept. */
  async kill(): Promise<void> {
    if (this.#child && this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGKILL');
      await this.#exited;
    }
  }

  client(): Redis {
    return new Redis(this.url, { maxRetriesPerRequest: null });
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
