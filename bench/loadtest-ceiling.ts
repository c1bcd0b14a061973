/**
 * The load generator's own ceiling: requests/s it sustains against a trivial
 * `/health` endpoint on one core, next to autocannon in the same run. The server
 * runs pinned to another core (when taskset and a second core exist) so it is the
 * generator, not the server, that runs out of CPU.
 *
 *   npx tsx bench/loadtest-ceiling.ts [--duration 10] [--connections 10] [--rounds 2]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { healthTarget } from '../src/loadtest/health-target.js';
import { run } from '../src/loadtest/runner.js';

interface Measurement {
  tool: string;
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  /** The generator's own CPU time (user + system) over the run: immune to a slow server. */
  cpuSeconds: number;
}

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

const self = fileURLToPath(import.meta.url);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      role: { type: 'string' },
      url: { type: 'string' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '2' },
    },
  });
  const seconds = Number(values.duration);
  const connections = Number(values.connections);
  if (values.role === 'server') return serve();
  if (values.role === 'ours') return print(await measureOurs(values.url ?? '', connections, seconds));
  if (values.role === 'autocannon')
    return print(await measureAutocannon(values.url ?? '', connections, seconds));
  await compare(seconds, connections, Number(values.rounds));
}

function serve(): void {
  const body = JSON.stringify({ status: 'ok' });
  const server = createServer((_request, response) => {
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    response.end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
  });
}

function print(measurement: Measurement): void {
  process.stdout.write(`${JSON.stringify(measurement)}\n`);
}

async function measureOurs(url: string, connections: number, seconds: number): Promise<Measurement> {
  const cpu = process.cpuUsage();
  const result = await run({
    targets: [healthTarget(url)],
    plan: { workers: connections, requests: undefined, durationMs: seconds * 1000, open: undefined },
    together: false,
    timeoutMs: 10_000,
    sampleIntervalMs: 0,
  });
  const stats = result.services[0]?.stats;
  const wall = (stats?.wallMs ?? 0) / 1000;
  return {
    tool: 'voice-stack load-test',
    requests: stats?.total ?? 0,
    errors: stats?.failed ?? 0,
    seconds: wall,
    rps: (stats?.total ?? 0) / wall,
    cpuSeconds: cpuSecondsSince(cpu),
  };
}

async function measureAutocannon(url: string, connections: number, seconds: number): Promise<Measurement> {
  type Autocannon = (
    options: object,
  ) => Promise<{ requests: { total: number }; errors: number; non2xx: number; duration: number }>;
  // autocannon ships no types; a variable specifier keeps the compiler from asking for them.
  const specifier = 'autocannon';
  const autocannon = ((await import(specifier)) as { default: Autocannon }).default;
  const cpu = process.cpuUsage();
  const result = await autocannon({ url: `${url}/health`, connections, pipelining: 1, duration: seconds });
  return {
    tool: 'autocannon',
    requests: result.requests.total,
    errors: result.errors + result.non2xx,
    seconds: result.duration,
    rps: result.requests.total / result.duration,
    cpuSeconds: cpuSecondsSince(cpu),
  };
}

/** Pins a child to one core when it can, so "one core" is what is measured. */
function pinned(core: number): string[] {
  if (availableParallelism() < 2) return [];
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return ['taskset', '-c', String(core)];
  } catch {
    return [];
  }
}

function child(role: string, extra: string[], core: number): ChildProcess {
  const command = [...pinned(core), process.execPath, ...process.execArgv, self, '--role', role, ...extra];
  const [file = process.execPath, ...args] = command;
  return spawn(file, args, { stdio: ['ignore', 'pipe', 'inherit'] });
}

function firstLine(process: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    process.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const end = text.indexOf('\n');
      if (end >= 0) resolve(text.slice(0, end));
    });
    process.on('exit', (code) => reject(new Error(`child exited with ${code} before answering`)));
  });
}

async function compare(seconds: number, connections: number, rounds: number): Promise<void> {
  const server = child('server', [], 1);
  const url = `http://127.0.0.1:${await firstLine(server)}`;
  const extra = ['--url', url, '--duration', String(seconds), '--connections', String(connections)];
  const results: Measurement[] = [];
  try {
    // Alternating order so neither tool always gets the warmer server.
    for (let round = 0; round < rounds; round++) {
      for (const role of round % 2 === 0 ? ['ours', 'autocannon'] : ['autocannon', 'ours']) {
        results.push(JSON.parse(await firstLine(child(role, extra, 0))) as Measurement);
      }
    }
  } finally {
    server.kill();
  }
  report(results, seconds, connections);
}

function report(results: readonly Measurement[], seconds: number, connections: number): void {
  const OURS = 'voice-stack load-test';
  const THEIRS = 'autocannon';
  const perCpuSecond = (r: Measurement) => (r.cpuSeconds > 0 ? r.requests / r.cpuSeconds : 0);
  const values = (tool: string, pick: (r: Measurement) => number) =>
    results
      .filter((r) => r.tool === tool)
      .map(pick)
      .sort((a, b) => a - b);
  // The median says more than the best on a shared machine, where neighbours steal the server's core.
  const median = (sorted: number[]) => {
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2
      ? (sorted[middle] ?? 0)
      : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
  };
  const best = (sorted: number[]) => Math.max(...sorted);
  process.stdout.write(
    `generator ceiling against GET /health, ${connections} connections, ${seconds}s per run, generator on one core\n`,
  );
  for (const r of results) {
    process.stdout.write(
      `  ${r.tool.padEnd(22)} ${r.rps.toFixed(0).padStart(7)} req/s  ${((r.cpuSeconds / Math.max(1, r.requests)) * 1e6).toFixed(1).padStart(5)} µs CPU/request  (${r.requests} requests, ${r.errors} errors, ${r.seconds.toFixed(2)}s)\n`,
    );
  }
  for (const [label, pick] of [
    ['best', best],
    ['median', median],
  ] as const) {
    const ours = pick(values(OURS, (r) => r.rps));
    const theirs = pick(values(THEIRS, (r) => r.rps));
    process.stdout.write(
      `${label}: ours ${ours.toFixed(0)} req/s, autocannon ${theirs.toFixed(0)} req/s, ratio ${(ours / theirs).toFixed(2)}\n`,
    );
  }
  // Requests per second of the generator's own CPU: what the generator costs, whatever
  // the server (on a shared core) manages in that run.
  const oursPerCpu = median(values(OURS, perCpuSecond));
  const theirsPerCpu = median(values(THEIRS, perCpuSecond));
  process.stdout.write(
    `median requests per CPU-second: ours ${oursPerCpu.toFixed(0)}, autocannon ${theirsPerCpu.toFixed(0)}, ratio ${(oursPerCpu / theirsPerCpu).toFixed(2)}\n`,
  );
}

await main();
