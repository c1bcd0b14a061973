/**
 * The seeded abort run of issue 10: requests to both live services (one real
 * `voice-stack serve`, two slots each so most requests queue) that the client cuts at
 * varied moments — mid-upload, queued, running, before the response, after its first
 * bytes. Fails on a slot or queue entry that never comes back, a file left in the
 * spool, a dead process or a /health that does not answer.
 *
 *   node dist/test/fuzz/run-aborts.js --requests 1000 --seed 1 [--concurrency 24] [--class asr-mid-body,…]
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { request } from 'undici';
import { loopedSpeechWav } from '../support/fixtures.js';
import {
  ABORT_CLASSES,
  type AbortClass,
  type AbortContext,
  type AbortPlan,
  generateAbort,
} from './abort-cases.js';
import {
  filesUnder,
  type LiveServices,
  numericFlag,
  rssMb,
  settle,
  settledFiles,
  startLiveServices,
  uploadSpoolDir,
} from './live-services.js';

export interface AbortOptions {
  readonly requests: number;
  readonly seed: number;
  readonly concurrency?: number;
  /** Send only these classes (the plans keep their indexes, so a run still replays). */
  readonly classes?: readonly AbortClass[];
  readonly log?: (line: string) => void;
}

type ServiceName = 'asr' | 'tts';

export interface AbortReport {
  readonly passed: boolean;
  readonly failures: string[];
  /** `class\toutcome` → count. */
  readonly counts: Map<string, number>;
  readonly sent: number;
  readonly leakedSlots: number;
  readonly leakedSpoolFiles: number;
  /** The most files seen in the spool during the run: 0 would mean the check saw nothing. */
  readonly spoolPeak: number;
  readonly crashes: number;
  readonly healthStatus: Record<ServiceName, number>;
  readonly rssBeforeMb: number;
  readonly rssAfterMb: number;
}

/** A request nobody cut by then is cut anyway and counted as stalled. */
const STALL_MS = 60_000;
const ABORTED = 'aborted before response';

/** The status line, once the whole response head has arrived. */
function statusOf(received: string): number | undefined {
  if (!received.includes('\r\n\r\n')) return undefined;
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(received)?.[1];
  return status === undefined ? undefined : Number(status);
}

/**
 * Sends one plan over a raw socket and cuts it where the plan says. The outcome is
 * what the client had seen when it went: no response yet, or the status it got.
 */
function exchange(port: number, plan: AbortPlan): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    let settled = false;
    // What the client had seen: nothing yet, or a status, then the cut or the server's close.
    const outcome = (otherwise: string, after: string) => {
      const status = statusOf(received);
      return status === undefined ? otherwise : `status ${status}${after}`;
    };
    const finish = (result: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(stall);
      if (plan.reset) socket.resetAndDestroy();
      else socket.destroy();
      resolve(result);
    };
    const cutIn = (ms: number) => setTimeout(() => finish(outcome(ABORTED, ', then cut')), ms);
    const stall = setTimeout(() => finish(outcome('stalled', ', then stalled')), STALL_MS);
    socket.on('data', (chunk: Buffer) => {
      // The head is all that is read; the rest of a long response only needs counting as started.
      if (received.length < 8192) received += chunk.toString('latin1');
      const head = received.indexOf('\r\n\r\n');
      if (plan.cut.at === 'first-body-bytes' && head !== -1 && received.length > head + 4) {
        finish(outcome(ABORTED, ', then cut'));
      }
    });
    socket.on('error', () => finish(outcome('reset by server', ', then reset')));
    socket.on('close', () => finish(outcome('closed by server', '')));
    socket.once('connect', () => send(socket, plan, cutIn));
  });
}

function send(socket: ReturnType<typeof connect>, plan: AbortPlan, cutIn: (ms: number) => void): void {
  const { cut } = plan;
  if (cut.at === 'body-bytes') {
    socket.write(Buffer.concat([plan.head, plan.body.subarray(0, cut.bytes)]), () => cutIn(cut.thenMs));
    return;
  }
  socket.write(Buffer.concat([plan.head, plan.body]), () => {
    if (cut.at === 'delay') cutIn(cut.ms);
  });
}

function makeContext(): AbortContext {
  return { wavs: [2, 4, 6].map((seconds) => readFileSync(loopedSpeechWav(seconds))) };
}

/** Samples the spool while the run goes on; files vanish under the walk, so errors are skipped. */
function startSpoolSampler(dir: string): { stop: () => number } {
  let peak = 0;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, filesUnder(dir).length);
    } catch {
      // A file removed between readdir and stat: the next sample sees the rest.
    }
  }, 50);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

async function healthStatus(base: string): Promise<number> {
  try {
    const response = await request(`${base}/health`, { signal: AbortSignal.timeout(5000) });
    await response.body.dump();
    return response.statusCode;
  } catch {
    return 0;
  }
}

/** Runs every plan through a pool of `concurrency` clients; stops early if the process dies. */
async function sendAll(live: LiveServices, options: AbortOptions, counts: Map<string, number>) {
  const ctx = makeContext();
  const log = options.log ?? (() => {});
  let next = 0;
  let sent = 0;
  const worker = async () => {
    while (next < options.requests && live.server.exitCode === null) {
      const plan = generateAbort(options.seed, next++, ctx);
      if (options.classes && !options.classes.includes(plan.cls)) continue;
      const result = await exchange(Number(new URL(live.bases[plan.service]).port), plan);
      const key = `${plan.cls}\t${result}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      sent += 1;
      if (sent % 250 === 0) log(`… ${sent} requests`);
      if (result.includes('stalled')) log(`#${plan.index} ${plan.cls} [${plan.label}]: ${result}`);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 24 }, worker));
  return sent;
}

/** After the run: slots and queues back to 0, the spool empty, the process alive and answering. */
async function checkAfter(live: LiveServices, failures: string[]) {
  let leakedSlots = 0;
  const healthStatusBy: Record<ServiceName, number> = { asr: 0, tts: 0 };
  if (live.server.exitCode !== null) {
    failures.push(`the server died (exit ${live.server.exitCode}): ${live.server.stderr.slice(-400)}`);
    return { leakedSlots, leakedSpoolFiles: 0, healthStatus: healthStatusBy, rssAfterMb: 0 };
  }
  for (const service of ['asr', 'tts'] as const) {
    const left = await settle(live.bases[service]);
    leakedSlots += Math.max(0, left.active) + Math.max(0, left.queued);
    if (left.active !== 0 || left.queued !== 0)
      failures.push(`${service}: ${left.active} active, ${left.queued} queued 30 s after the run`);
    healthStatusBy[service] = await healthStatus(live.bases[service]);
    if (healthStatusBy[service] !== 200)
      failures.push(`${service} /health answered ${healthStatusBy[service]}`);
  }
  const left = await settledFiles(live.spoolRoot);
  if (left.length > 0) failures.push(`${left.length} spool files left: ${left.slice(0, 3).join(', ')}`);
  if (live.server.exitCode !== null) failures.push(`the server died (exit ${live.server.exitCode})`);
  return {
    leakedSlots,
    leakedSpoolFiles: left.length,
    healthStatus: healthStatusBy,
    rssAfterMb: live.server.exitCode === null ? rssMb(live.pid) : 0,
  };
}

export async function runAborts(options: AbortOptions): Promise<AbortReport> {
  const live = await startLiveServices('voice-stack-aborts-', {
    MAX_CONCURRENT_REQUESTS: '2',
    MAX_QUEUE_SIZE: '64',
    // One thread per inference on a small machine keeps running requests running long enough to be cut.
    ASR_CPU_THREADS: '1',
  });
  const failures: string[] = [];
  const counts = new Map<string, number>();
  const rssBeforeMb = rssMb(live.pid);
  const sampler = startSpoolSampler(live.spoolRoot);
  try {
    const sent = await sendAll(live, options, counts);
    const spoolPeak = sampler.stop();
    if (!existsSync(uploadSpoolDir(live)))
      failures.push(`no spool folder at ${uploadSpoolDir(live)}: the spool check looks in the wrong place`);
    const after = await checkAfter(live, failures);
    if (sent < options.requests && !options.classes)
      failures.push(`only ${sent} of ${options.requests} requests were sent`);
    const crashes = live.server.exitCode === null ? 0 : 1;
    return {
      passed: failures.length === 0,
      failures,
      counts,
      sent,
      spoolPeak,
      crashes,
      rssBeforeMb,
      ...after,
    };
  } finally {
    sampler.stop();
    await live.server.stop();
    rmSync(live.root, { recursive: true, force: true });
  }
}

export function formatAbortReport(report: AbortReport, seed: number): string {
  const lines = [
    `abort seed ${seed}: ${report.sent} requests`,
    `${'class'.padEnd(20)} ${'outcome'.padEnd(28)} count`,
  ];
  const keys = [...report.counts.keys()].sort();
  for (const cls of ABORT_CLASSES) {
    for (const key of keys.filter((k) => k.startsWith(`${cls}\t`))) {
      lines.push(`${cls.padEnd(20)} ${key.slice(cls.length + 1).padEnd(28)} ${report.counts.get(key)}`);
    }
  }
  lines.push(
    `leaked slots ${report.leakedSlots}; leaked spool files ${report.leakedSpoolFiles} (peak during the run ${report.spoolPeak}); process crashes ${report.crashes}`,
    `/health asr ${report.healthStatus.asr}, tts ${report.healthStatus.tts}; RSS before ${report.rssBeforeMb.toFixed(0)} MB, after ${report.rssAfterMb.toFixed(0)} MB`,
    ...report.failures.map((f) => `FAIL ${f}`),
    report.passed ? 'PASS' : `FAIL: ${report.failures.length} failures`,
  );
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('run-aborts.js')) {
  const seed = numericFlag('seed') ?? 1;
  const concurrency = numericFlag('concurrency');
  const at = process.argv.indexOf('--class');
  const classes = at === -1 ? undefined : (process.argv[at + 1]?.split(',') as AbortClass[]);
  const report = await runAborts({
    ...(classes === undefined ? {} : { classes }),
    requests: numericFlag('requests') ?? 1000,
    seed,
    ...(concurrency === undefined ? {} : { concurrency }),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(`${formatAbortReport(report, seed)}\n`);
  process.exitCode = report.passed ? 0 : 1;
}
