/**
 * The seeded fuzz run of issue 10: generated bad requests of every class against both
 * live services (one real `voice-stack serve`), failing on a dead process, an
 * undocumented 5xx, a stack trace or a path in a body, a playlist that reaches another
 * file, leaked slots or spool files, RSS over 2× its warm value, or a slow /health.
 *
 *   node dist/test/fuzz/run-fuzz.js --requests 5000 --seed 1 [--only 1234]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { speechWav } from '../support/fixtures.js';
import { CLASSES, type FuzzContext, type FuzzRequest, generateRequest } from './fuzz-cases.js';
import {
  filesUnder,
  numericFlag,
  outcomeLines,
  rssMb,
  settle,
  startHealthPoller,
  startLiveServices,
} from './live-services.js';

export interface FuzzOptions {
  readonly requests: number;
  readonly seed: number;
  readonly only?: number;
  readonly concurrency?: number;
  readonly log?: (line: string) => void;
}

export interface FuzzReport {
  readonly passed: boolean;
  readonly failures: string[];
  readonly counts: Map<string, number>;
  readonly maxHealthMs: number;
  readonly rssWarmMb: number;
  readonly rssPeakMb: number;
  readonly sent: number;
}

/** 503s the contract documents; any other 5xx is a failure. */
const DOCUMENTED_503 = new Set([
  'VS_ERR_QUEUE_FULL',
  'VS_ERR_RESOURCE_THRESHOLD',
  'VS_ERR_QUEUE_TIMEOUT',
  'VS_ERR_SHUTTING_DOWN',
  'VS_ERR_MODEL_UNAVAILABLE',
]);
const STACK = /\n\s+at \S|\bat [\w.<>]+ \(.*:\d+:\d+\)/;
const REQUEST_TIMEOUT_MS = 60_000;

interface Answer {
  readonly status: number;
  readonly body: string;
}

function makeAudio(dir: string): Map<string, Buffer> {
  const wav = speechWav('Fuzzing the speech services with broken audio.', 'fuzz-speech');
  const audio = new Map<string, Buffer>([['wav', readFileSync(wav)]]);
  for (const ext of ['mp3', 'ogg', 'flac', 'opus', 'm4a']) {
    const out = join(dir, `valid.${ext}`);
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', wav, out]);
    audio.set(ext, readFileSync(out));
  }
  return audio;
}

function makeSecrets(secretDir: string): void {
  mkdirSync(secretDir, { recursive: true });
  const source = join(secretDir, 'source.wav');
  execFileSync('cp', [speechWav('A secret sentence.', 'fuzz-secret'), source]);
  for (const ext of ['wav', 'mp3', 'flac']) {
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', source, join(secretDir, `secret.${ext}`)]);
  }
}

function rawSend(port: number, bytes: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    };
    const timer = setTimeout(done, 15_000);
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.write(bytes);
  });
}

async function send(base: string, fuzz: FuzzRequest): Promise<Answer> {
  if (fuzz.raw) return rawSend(Number(new URL(base).port), fuzz.raw);
  const signals = [AbortSignal.timeout(REQUEST_TIMEOUT_MS)];
  if (fuzz.abortAfterMs !== undefined) signals.push(AbortSignal.timeout(fuzz.abortAfterMs));
  try {
    const response = await request(`${base}${fuzz.path}`, {
      method: fuzz.method as 'GET' | 'POST',
      headers: fuzz.headers,
      body: fuzz.body,
      signal: AbortSignal.any(signals),
    });
    return { status: response.statusCode, body: await response.body.text() };
  } catch (error) {
    const timedOut = (error as Error).name === 'TimeoutError' && fuzz.abortAfterMs === undefined;
    return { status: timedOut ? -1 : 0, body: '' };
  }
}

function judge(fuzz: FuzzRequest, answer: Answer, secretDir: string): string | undefined {
  if (answer.status === -1) return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  if (answer.status >= 500) {
    const code = /"code":"(VS_ERR_\w+)"/.exec(answer.body)?.[1];
    if (!(answer.status === 503 && code !== undefined && DOCUMENTED_503.has(code))) {
      return `${answer.status} ${answer.body.slice(0, 200)}`;
    }
  }
  if (STACK.test(answer.body)) return `stack trace in body: ${answer.body.slice(0, 200)}`;
  if (
    /\/tmp\/|\/home\/|\/root\/|node_modules|voice-stack-uploads/.test(answer.body) ||
    answer.body.includes(secretDir)
  ) {
    return `path in body: ${answer.body.slice(0, 200)}`;
  }
  if (fuzz.probe && answer.status >= 200 && answer.status < 300) return `playlist answered ${answer.status}`;
  return undefined;
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const log = options.log ?? (() => {});
  const { server, bases, pid, root, spoolRoot } = await startLiveServices('voice-stack-fuzz-');
  const secretDir = join(root, 'secret');
  const audio = makeAudio(root);
  makeSecrets(secretDir);
  const ctx: FuzzContext = { audio, secretDir };
  const failures: string[] = [];
  const counts = new Map<string, number>();
  const probeAnswers = new Map<string, Set<string>>();
  const poller = startHealthPoller([bases.asr, bases.tts]);
  let rssWarm = 0;
  let rssPeak = 0;
  let sent = 0;
  const indexes =
    options.only === undefined ? Array.from({ length: options.requests }, (_, i) => i) : [options.only];
  try {
    let next = 0;
    const worker = async () => {
      while (next < indexes.length && server.exitCode === null) {
        const index = indexes[next++] as number;
        const fuzz = generateRequest(options.seed, index, ctx);
        const answer = await send(bases[fuzz.service], fuzz);
        sent += 1;
        const key = `${fuzz.cls} ${answer.status}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        const problem = judge(fuzz, answer, secretDir);
        if (problem) failures.push(`#${index} ${fuzz.cls} [${fuzz.label}]: ${problem}`);
        if (fuzz.probe) {
          const shape = `${fuzz.probe.shape}`;
          const seen = probeAnswers.get(shape) ?? new Set<string>();
          seen.add(
            `${fuzz.probe.targetExists}:${answer.status}:${answer.body.replace(/"request_id":"[^"]*"/, '')}`,
          );
          probeAnswers.set(shape, seen);
        }
        if (sent === Math.min(50, indexes.length)) rssWarm = rssMb(pid);
        if (sent % 25 === 0 && server.exitCode === null) rssPeak = Math.max(rssPeak, rssMb(pid));
        if (sent % 500 === 0) log(`… ${sent} requests, ${failures.length} failures`);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
    if (server.exitCode !== null)
      failures.push(`the server died (exit ${server.exitCode}): ${server.stderr.slice(-400)}`);
    else {
      for (const [service, base] of Object.entries(bases)) {
        const left = await settle(base);
        if (left.active !== 0 || left.queued !== 0)
          failures.push(`${service}: ${left.active} active, ${left.queued} queued after the run`);
      }
      rssPeak = Math.max(rssPeak, rssMb(pid));
      if (rssWarm === 0) rssWarm = rssPeak;
      if (rssPeak > 2 * rssWarm)
        failures.push(`RSS grew from ${rssWarm.toFixed(0)} MB to ${rssPeak.toFixed(0)} MB`);
    }
    for (const [shape, seen] of probeAnswers) {
      const answersForExisting = [...seen].filter((e) => e.startsWith('true:')).map((e) => e.slice(5));
      const answersForMissing = [...seen].filter((e) => e.startsWith('false:')).map((e) => e.slice(6));
      const oracle = answersForExisting.some(
        (a) => answersForMissing.length > 0 && !answersForMissing.includes(a),
      );
      if (oracle) failures.push(`playlist ${shape}: the answer tells whether the named file exists`);
    }
  } finally {
    const maxHealthMs = await poller.stop();
    (counts as Map<string, number>).set('__health', maxHealthMs);
    await server.stop();
  }
  const leftovers = filesUnder(spoolRoot);
  if (leftovers.length > 0)
    failures.push(`${leftovers.length} temp files left: ${leftovers.slice(0, 3).join(', ')}`);
  const maxHealthMs = counts.get('__health') ?? 0;
  counts.delete('__health');
  if (maxHealthMs > 1000) failures.push(`/health took ${maxHealthMs.toFixed(0)} ms`);
  rmSync(root, { recursive: true, force: true });
  return {
    passed: failures.length === 0,
    failures,
    counts,
    maxHealthMs,
    rssWarmMb: rssWarm,
    rssPeakMb: rssPeak,
    sent,
  };
}

export function formatReport(report: FuzzReport, seed: number): string {
  const lines = [`fuzz seed ${seed}: ${report.sent} requests`, 'class            status  count'];
  const keys = [...report.counts.keys()].sort();
  for (const cls of CLASSES) {
    for (const key of keys.filter((k) => k.startsWith(`${cls} `))) {
      lines.push(`${cls.padEnd(16)} ${key.slice(cls.length + 1).padStart(6)}  ${report.counts.get(key)}`);
    }
  }
  lines.push(...outcomeLines(report, seed));
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('run-fuzz.js')) {
  const seed = numericFlag('seed') ?? 1;
  const only = numericFlag('only');
  const report = await runFuzz({
    requests: numericFlag('requests') ?? 5000,
    seed,
    ...(only === undefined ? {} : { only }),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(`${formatReport(report, seed)}\n`);
  process.exitCode = report.passed ? 0 : 1;
}
