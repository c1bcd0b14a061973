/**
 * The seeded protocol fuzz: broken Wyoming events (node:net) and broken Realtime client
 * events (the `ws` package) against one real `voice-stack serve` with both Wyoming
 * listeners on, plus a second ASR service started with API_KEY for the key checks.
 * Fails on a dead process, a refusal that is not the protocol's error event with a code,
 * an internal error, a stack trace or a path in any error text, slots, queue or live
 * sessions that do not come back to 0, files left in TMPDIR, RSS over 2× its warm
 * value, or a /health over 1 s.
 *
 *   node dist/test/fuzz/run-protocol-fuzz.js --requests 2000 --seed 1 [--only 123]
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import WebSocket from 'ws';
import { convertAudio, speechBandVadModel, speechWav, testWhisperModel } from '../support/fixtures.js';
import { ServiceProcess } from '../support/service-process.js';
import { type ClientEvent, WyomingClient } from '../wyoming/wyoming-client.js';
import {
  filesUnder,
  type LiveServices,
  numericFlag,
  outcomeLines,
  rssMb,
  startHealthPoller,
  startLiveServices,
} from './live-services.js';
import {
  generateCase,
  PROTOCOL_CLASSES,
  type ProtocolCase,
  type ProtocolContext,
  type RealtimeCase,
  type SessionFloodCase,
  type UpgradeCase,
  type WyomingCase,
} from './protocol-cases.js';

export interface ProtocolFuzzOptions {
  readonly requests: number;
  readonly seed: number;
  readonly only?: number;
  readonly concurrency?: number;
  readonly log?: (line: string) => void;
}

export interface ProtocolFuzzReport {
  readonly passed: boolean;
  readonly failures: string[];
  /** `class outcome` → count. */
  readonly counts: Map<string, number>;
  readonly maxHealthMs: number;
  readonly rssWarmMb: number;
  readonly rssPeakMb: number;
  readonly cases: number;
}

/** The keyed service's bound, which the floods test; the open service has room for the other cases. */
const MAX_REALTIME_SESSIONS = 4;
const OPEN_REALTIME_SESSIONS = 8;
const API_KEY = 'protocol-fuzz-key-0123456789';
const CASE_TIMEOUT_MS = 60_000;
const STACK = /\n\s+at \S|\bat [\w.<>]+ \(.*:\d+:\d+\)/;
const PATH = /\/tmp\/|\/home\/|\/root\/|\/work\/|node_modules|\.js:\d+|\.ts:\d+/;
/** Refusals any request may get for capacity, whatever it asked. */
const CAPACITY = new Set(['VS_ERR_QUEUE_FULL', 'VS_ERR_RESOURCE_THRESHOLD', 'VS_ERR_QUEUE_TIMEOUT']);
const WYOMING_CODE = /^VS_ERR_[A-Z_]+$/;
/** The `error` codes of a Realtime session (src/asr/realtime/protocol.ts documents them). */
const REALTIME_CODES = new Set([
  'invalid_json',
  'unknown_event',
  'unknown_parameter',
  'missing_required_parameter',
  'invalid_value',
  'invalid_audio',
  'binary_not_supported',
  'input_audio_buffer_commit_empty',
  'input_audio_buffer_full',
  'session_limit_reached',
  'session_idle_timeout',
  'shutting_down',
]);

interface Targets {
  readonly live: LiveServices;
  readonly keyed: ServiceProcess;
  readonly keyedSpool: string;
  readonly wyoming: { readonly asr: number; readonly tts: number };
  readonly bases: { readonly asr: string; readonly tts: string; readonly keyed: string };
}

type Judged = { outcome: string; problem?: string | undefined };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A bound for a race: unref'd, so a bound that lost does not keep the process alive. */
const bound = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());

function leaks(text: string): string | undefined {
  if (STACK.test(text)) return `stack trace in error text: ${text.slice(0, 200)}`;
  if (PATH.test(text)) return `path in error text: ${text.slice(0, 200)}`;
  return undefined;
}

async function startTargets(): Promise<Targets> {
  const live = await startLiveServices('voice-stack-protofuzz-', {
    // Realtime sessions with server VAD then run the Silero turn detector (the keyed service below
    // keeps the energy detector), so both are fuzzed.
    ASR_VAD_MODEL: await speechBandVadModel(),
    WYOMING_ASR_PORT: '0',
    WYOMING_TTS_PORT: '0',
    MAX_REALTIME_SESSIONS: String(OPEN_REALTIME_SESSIONS),
    LOG_LEVEL: 'info',
  });
  const keyedSpool = join(live.root, 'tmp-keyed');
  mkdirSync(keyedSpool);
  let keyed: ServiceProcess | undefined;
  try {
    const listening = (service: string) =>
      live.server.logs.find((l) => l.event === 'wyoming_listening' && l.service === service);
    await live.server.waitFor(
      () => listening('asr') !== undefined && listening('tts') !== undefined,
      20_000,
      'wyoming',
    );
    keyed = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      TMPDIR: keyedSpool,
      API_KEY,
      MAX_REALTIME_SESSIONS: String(MAX_REALTIME_SESSIONS),
      LOG_LEVEL: 'info',
    });
    return {
      live,
      keyed,
      keyedSpool,
      wyoming: { asr: listening('asr')?.port as number, tts: listening('tts')?.port as number },
      bases: { asr: live.bases.asr, tts: live.bases.tts, keyed: keyed.url('asr') },
    };
  } catch (error) {
    await keyed?.stop();
    await live.server.stop();
    throw error;
  }
}

function makeContext(): ProtocolContext {
  const wav = speechWav('Fuzzing the live protocols with broken events, one two three.', 'protofuzz-speech');
  const raw = (rate: number) =>
    readFileSync(
      convertAudio(wav, `protofuzz-${rate}.s16le`, ['-f', 's16le', '-ar', String(rate), '-ac', '1']),
    );
  return {
    speech16k: raw(16000),
    speech24k: raw(24000),
    apiKey: API_KEY,
    maxRealtimeSessions: MAX_REALTIME_SESSIONS,
  };
}

// ---------------------------------------------------------------- Wyoming

function judgeWyomingEvents(events: readonly ClientEvent[]): string | undefined {
  for (const event of events) {
    if (event.type !== 'error') continue;
    const { code, text } = event.data;
    if (typeof code !== 'string' || !WYOMING_CODE.test(code))
      return `error event without a code: ${JSON.stringify(event.data)}`;
    if (code === 'VS_ERR_INTERNAL') return `internal error: ${JSON.stringify(event.data)}`;
    if (typeof text !== 'string' || text === '')
      return `error event without text: ${JSON.stringify(event.data)}`;
    const leak = leaks(text);
    if (leak) return leak;
  }
  return undefined;
}

async function runWyoming(c: WyomingCase, targets: Targets): Promise<Judged> {
  const client = await WyomingClient.connect(targets.wyoming[c.service]);
  for (const write of c.writes) {
    client.sendRaw(write);
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (c.end !== 'half-close') {
    await sleep(c.cutAfterMs ?? 0);
    if (c.end === 'reset') client.reset();
    else client.destroy();
    return { outcome: 'cut' };
  }
  client.close();
  let events: ClientEvent[];
  try {
    const timeout = bound(CASE_TIMEOUT_MS).then(() => 'timeout' as const);
    const read = await Promise.race([client.readToEnd(), timeout]);
    if (read === 'timeout') {
      client.destroy();
      return { outcome: 'timeout', problem: `no end of the connection within ${CASE_TIMEOUT_MS / 1000} s` };
    }
    events = read;
  } catch (error) {
    client.destroy();
    return {
      outcome: 'malformed',
      problem: `an answer that is not a Wyoming event: ${(error as Error).message}`,
    };
  }
  const bad = judgeWyomingEvents(events);
  const last = events.at(-1);
  const errorCode = last?.type === 'error' ? String(last.data.code) : undefined;
  const outcome =
    errorCode !== undefined
      ? CAPACITY.has(errorCode)
        ? 'capacity'
        : `error ${errorCode.replace('VS_ERR_', '').toLowerCase()}`
      : events.length === 0
        ? 'closed'
        : 'answered';
  if (bad) return { outcome, problem: bad };
  if (c.expect === 'refuse') {
    if (errorCode === undefined)
      return {
        outcome,
        problem: `no error event where a refusal was due (got ${events.map((e) => e.type).join(', ') || 'nothing'})`,
      };
    if (c.code !== undefined && errorCode !== c.code && !CAPACITY.has(errorCode))
      return {
        outcome,
        problem: `refused with ${errorCode}, expected ${c.code}: ${String(last?.data.text)}`,
      };
  }
  if (c.expect === 'answer') {
    const answered = events.filter((e) => e.type === c.answer).length >= (c.answers ?? 1);
    if (!answered && !(errorCode !== undefined && CAPACITY.has(errorCode)))
      return {
        outcome,
        problem: `no '${c.answer}' (got ${events.map((e) => `${e.type}${e.type === 'error' ? ` ${String(e.data.text)}` : ''}`).join(', ') || 'nothing'})`,
      };
  }
  return { outcome };
}

// ---------------------------------------------------------------- Realtime

interface OpenSocket {
  readonly socket: WebSocket;
  readonly events: Record<string, unknown>[];
  readonly malformed: string[];
  closeCode: number | undefined;
  closeReason: string;
  readonly closed: Promise<void>;
}

type Opened =
  | { kind: 'open'; socket: OpenSocket }
  | { kind: 'refused'; status: number; body: string }
  | { kind: 'failed'; message: string };

function wsUrl(base: string, query: string): string {
  return `${base.replace(/^http/, 'ws')}/v1/realtime${query === '' ? '' : `?${query}`}`;
}

function openSocket(
  url: string,
  protocols: readonly string[],
  headers: Readonly<Record<string, string>>,
): Promise<Opened> {
  return new Promise((resolve) => {
    let socket: WebSocket;
    try {
      socket = new WebSocket(url, [...protocols], { headers: { ...headers }, maxPayload: 64 * 1024 * 1024 });
    } catch (error) {
      resolve({ kind: 'failed', message: (error as Error).message });
      return;
    }
    const state: OpenSocket = {
      socket,
      events: [],
      malformed: [],
      closeCode: undefined,
      closeReason: '',
      closed: new Promise((done) =>
        socket.on('close', (code, reason) => {
          state.closeCode = code;
          state.closeReason = reason.toString();
          done();
        }),
      ),
    };
    socket.on('message', (data, isBinary) => {
      try {
        if (isBinary) throw new Error('binary');
        state.events.push(JSON.parse(String(data)) as Record<string, unknown>);
      } catch {
        state.malformed.push(String(data).slice(0, 100));
      }
    });
    socket.once('open', () => resolve({ kind: 'open', socket: state }));
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      response.on('end', () => resolve({ kind: 'refused', status: response.statusCode ?? 0, body }));
      response.on('error', () => resolve({ kind: 'refused', status: response.statusCode ?? 0, body }));
    });
    socket.on('error', (error) => resolve({ kind: 'failed', message: error.message }));
  });
}

async function waitForEvents(
  socket: OpenSocket,
  done: (events: Record<string, unknown>[]) => boolean,
  timeoutMs = CASE_TIMEOUT_MS,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done(socket.events)) {
    if (socket.closeCode !== undefined || Date.now() > deadline) return done(socket.events);
    await sleep(5);
  }
  return true;
}

type RtError = { code?: unknown; message?: unknown; event_id?: unknown };

function judgeRealtimeEvents(socket: OpenSocket): string | undefined {
  if (socket.malformed.length > 0) return `a server message that is not a JSON event: ${socket.malformed[0]}`;
  for (const event of socket.events) {
    const error = event.error as RtError | undefined;
    if (event.type === 'error') {
      if (typeof error?.code !== 'string' || !REALTIME_CODES.has(error.code))
        return `error event without a known code: ${JSON.stringify(event).slice(0, 300)}`;
    }
    if (
      event.type === 'conversation.item.input_audio_transcription.failed' &&
      error?.code === 'VS_ERR_INTERNAL'
    )
      return `transcription failed internally: ${JSON.stringify(event).slice(0, 300)}`;
    if (error !== undefined) {
      const leak = leaks(String(error.message));
      if (leak) return leak;
    }
  }
  return leaks(socket.closeReason);
}

/** The first event of a session: created, or the capacity refusal and a 1013 close. */
async function firstEvent(socket: OpenSocket): Promise<'created' | 'session-limit' | string> {
  await waitForEvents(socket, (events) => events.length > 0, 10_000);
  const first = socket.events[0];
  if (first?.type === 'transcription_session.created') return 'created';
  if (first?.type === 'error' && (first.error as RtError).code === 'session_limit_reached') {
    await Promise.race([socket.closed, bound(5000)]);
    return socket.closeCode === 1013
      ? 'session-limit'
      : `session refused without a 1013 close (${socket.closeCode})`;
  }
  return `first event ${JSON.stringify(first)?.slice(0, 200) ?? 'none'} (close ${socket.closeCode})`;
}

async function closeSocket(socket: OpenSocket): Promise<void> {
  if (socket.closeCode === undefined) socket.socket.close(1000);
  await Promise.race([socket.closed, bound(5000)]);
  if (socket.closeCode === undefined) socket.socket.terminate();
}

async function runRealtime(c: RealtimeCase, targets: Targets, index: number): Promise<Judged> {
  const base = c.target === 'keyed' ? targets.bases.keyed : targets.bases.asr;
  const opened = await openSocket(wsUrl(base, c.query), c.protocols, c.headers);
  if (opened.kind === 'failed')
    return { outcome: 'failed', problem: `the upgrade failed: ${opened.message}` };
  if (opened.kind === 'refused') {
    const outcome = `http ${opened.status}`;
    const leak = leaks(opened.body);
    if (leak) return { outcome, problem: leak };
    if (c.upgrade === 'session')
      return { outcome, problem: `upgrade refused: ${opened.status} ${opened.body.slice(0, 200)}` };
    if (!c.upgrade.includes(opened.status))
      return { outcome, problem: `upgrade answered ${opened.status}, expected ${c.upgrade.join('/')}` };
    if (!/"code":"VS_ERR_\w+"/.test(opened.body))
      return { outcome, problem: `refusal body without a code: ${opened.body.slice(0, 200)}` };
    return { outcome };
  }
  const socket = opened.socket;
  try {
    if (c.upgrade !== 'session')
      return { outcome: 'upgraded', problem: `upgrade accepted where ${c.upgrade.join('/')} was due` };
    if (
      socket.socket.protocol.startsWith('openai-insecure-api-key.') &&
      c.protocols.some((p) => !p.startsWith('openai-insecure-api-key.'))
    )
      return { outcome: 'upgraded', problem: 'the key subprotocol was chosen although another was offered' };
    const first = await firstEvent(socket);
    if (first === 'session-limit') return { outcome: 'session-limit', problem: judgeRealtimeEvents(socket) };
    if (first !== 'created') return { outcome: 'no-session', problem: first };
    const started = Date.now();
    for (const step of c.steps) {
      if (socket.closeCode !== undefined) break;
      if (step.op === 'wait') await sleep(step.ms);
      else if (step.op === 'binary') socket.socket.send(step.data, { binary: true });
      else socket.socket.send(step.data);
    }
    if (c.finish === 'terminate') {
      await sleep(Math.max(0, (c.cutAfterMs ?? 0) - (Date.now() - started)));
      socket.socket.terminate();
      return { outcome: 'cut', problem: judgeRealtimeEvents(socket) };
    }
    if (c.finish === 'close-code') {
      await Promise.race([socket.closed, bound(CASE_TIMEOUT_MS)]);
      const outcome = `close ${socket.closeCode}`;
      if (!c.closeCodes?.includes(socket.closeCode as number))
        return { outcome, problem: `closed with ${socket.closeCode}, expected ${c.closeCodes?.join('/')}` };
      return { outcome, problem: judgeRealtimeEvents(socket) };
    }
    // The sentinel: an unknown event with our id; every earlier event was answered before its error.
    const sentinel = `sentinel-${index}`;
    socket.socket.send(JSON.stringify({ type: 'fuzz.sentinel', event_id: sentinel }));
    const isSentinel = (e: Record<string, unknown>) =>
      e.type === 'error' && (e.error as RtError).event_id === sentinel;
    if (!(await waitForEvents(socket, (events) => events.some(isSentinel))))
      return {
        outcome: 'no-sentinel',
        problem: `no answer to the sentinel (close ${socket.closeCode} ${socket.closeReason})`,
      };
    const problem = judgeRealtimeEvents(socket);
    const before = socket.events.slice(0, socket.events.findIndex(isSentinel));
    const errors = before.filter((e) => e.type === 'error').length;
    const due = c.steps.filter((s) => s.op === 'binary' || (s.op === 'text' && s.refuse === true)).length;
    const maybe = c.steps.filter((s) => s.op === 'text' && s.maybe === true).length;
    const outcome = errors === 0 ? 'no-errors' : `${errors} errors`;
    if (problem) return { outcome, problem };
    if (errors < due || errors > due + maybe) {
      const codes = before.filter((e) => e.type === 'error').map((e) => (e.error as RtError).code);
      return {
        outcome,
        problem: `${errors} error events for ${due} refusals due (+${maybe} possible): ${codes.join(', ')}`,
      };
    }
    return { outcome: due > 0 ? 'refused' : 'accepted' };
  } finally {
    await closeSocket(socket);
  }
}

async function runFlood(c: SessionFloodCase, targets: Targets): Promise<Judged> {
  const opened = await Promise.all(
    Array.from({ length: c.sessions }, () =>
      // On the keyed service, so floods do not take the places of the other cases' sessions.
      openSocket(wsUrl(targets.bases.keyed, 'intent=transcription'), [], {
        authorization: `Bearer ${API_KEY}`,
      }),
    ),
  );
  const sockets = opened.flatMap((o) => (o.kind === 'open' ? [o.socket] : []));
  try {
    if (sockets.length !== opened.length)
      return { outcome: 'failed', problem: `${opened.length - sockets.length} upgrades failed` };
    const firsts = await Promise.all(sockets.map(firstEvent));
    const created = firsts.filter((f) => f === 'created').length;
    const refused = firsts.filter((f) => f === 'session-limit').length;
    const odd = firsts.find((f) => f !== 'created' && f !== 'session-limit');
    if (odd) return { outcome: 'odd', problem: odd };
    if (created > MAX_REALTIME_SESSIONS)
      return {
        outcome: 'over',
        problem: `${created} sessions open, MAX_REALTIME_SESSIONS is ${MAX_REALTIME_SESSIONS}`,
      };
    if (refused < c.sessions - MAX_REALTIME_SESSIONS)
      return { outcome: 'under', problem: `only ${refused} of ${c.sessions} refused` };
    for (const socket of sockets) {
      const problem = judgeRealtimeEvents(socket);
      if (problem) return { outcome: 'refused', problem };
    }
    return { outcome: 'limit-held' };
  } finally {
    await Promise.all(sockets.map(closeSocket));
  }
}

/** A raw upgrade request: the answer's status (0: none), read to the end of its body. */
function rawUpgrade(port: number, raw: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1] ?? 0), text: data });
    };
    const timer = setTimeout(done, 15_000);
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(data.slice(0, end))?.[1] ?? 0);
      if (data.length >= end + 4 + length || data.startsWith('HTTP/1.1 101')) done();
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.write(raw);
  });
}

async function runUpgrade(c: UpgradeCase, targets: Targets): Promise<Judged> {
  const base = c.target === 'keyed' ? targets.bases.keyed : targets.bases.asr;
  const answer = await rawUpgrade(Number(new URL(base).port), c.raw);
  const outcome = `http ${answer.status}`;
  if (answer.status === 101) return { outcome, problem: 'a broken upgrade was accepted' };
  if (answer.status < 400 || answer.status >= 500)
    return { outcome, problem: `answered ${answer.status}: ${answer.text.slice(0, 200)}` };
  return { outcome, problem: leaks(answer.text) };
}

async function runCase(c: ProtocolCase, targets: Targets): Promise<Judged> {
  try {
    if (c.kind === 'wyoming') return await runWyoming(c, targets);
    if (c.kind === 'realtime') return await runRealtime(c, targets, c.index);
    if (c.kind === 'upgrade') return await runUpgrade(c, targets);
    return await runFlood(c, targets);
  } catch (error) {
    return { outcome: 'client-error', problem: `the case failed on the client: ${(error as Error).message}` };
  }
}

// ---------------------------------------------------------------- checks

interface Counts {
  active: number;
  queued: number;
  sessions: number;
}

async function counts(base: string): Promise<Counts> {
  const response = await request(`${base}/health/detailed`, {
    headers: { authorization: `Bearer ${API_KEY}` },
    signal: AbortSignal.timeout(5000),
  });
  const body = (await response.body.json()) as {
    concurrency: { active_requests: number; queued: number };
    live_sessions?: Record<string, { active: number }>;
  };
  const sessions = Object.values(body.live_sessions ?? {}).reduce((n, s) => n + s.active, 0);
  return { active: body.concurrency.active_requests, queued: body.concurrency.queued, sessions };
}

/** Polls until nothing runs, waits or stays open, or `timeoutMs` passes; the last counts. */
async function settleAll(base: string, timeoutMs = 30_000): Promise<Counts> {
  const deadline = Date.now() + timeoutMs;
  let last = await counts(base);
  while ((last.active > 0 || last.queued > 0 || last.sessions > 0) && Date.now() < deadline) {
    await sleep(100);
    last = await counts(base);
  }
  return last;
}

function alive(targets: Targets): string | undefined {
  for (const [name, server] of [
    ['serve', targets.live.server],
    ['keyed serve asr', targets.keyed],
  ] as const) {
    if (server.exitCode !== null)
      return `${name} died (exit ${server.exitCode}): ${server.stderr.slice(-400)}`;
  }
  return undefined;
}

/** Error-level log lines (pino level 50+): something failed that nobody meant to refuse. */
function errorLogs(targets: Targets): string[] {
  return [targets.live.server, targets.keyed].flatMap((s) =>
    s.logs
      .filter((l) => Number(l.level) >= 50)
      .map((l) => `${String(l.msg)} ${JSON.stringify(l.err ?? '').slice(0, 200)}`),
  );
}

export async function runProtocolFuzz(options: ProtocolFuzzOptions): Promise<ProtocolFuzzReport> {
  const log = options.log ?? (() => {});
  const ctx = makeContext();
  const targets = await startTargets();
  const { live } = targets;
  const failures: string[] = [];
  const tally = new Map<string, number>();
  const poller = startHealthPoller([targets.bases.asr, targets.bases.tts, targets.bases.keyed]);
  const indexes =
    options.only === undefined ? Array.from({ length: options.requests }, (_, i) => i) : [options.only];
  let rssWarm = 0;
  let rssPeak = 0;
  let done = 0;
  let maxHealthMs = 0;
  try {
    let next = 0;
    const worker = async () => {
      while (next < indexes.length && alive(targets) === undefined) {
        const c = generateCase(options.seed, indexes[next++] as number, ctx);
        const judged = await runCase(c, targets);
        done += 1;
        const key = `${c.cls} ${judged.outcome}`;
        tally.set(key, (tally.get(key) ?? 0) + 1);
        if (judged.problem) failures.push(`#${c.index} ${c.cls} [${c.label}]: ${judged.problem}`);
        if (done === Math.min(50, indexes.length)) rssWarm = rssMb(live.pid);
        if (done % 25 === 0 && alive(targets) === undefined) rssPeak = Math.max(rssPeak, rssMb(live.pid));
        if (done % 250 === 0) log(`… ${done} cases, ${failures.length} failures`);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency ?? 6 }, worker));
    const dead = alive(targets);
    if (dead) failures.push(dead);
    else {
      for (const [name, base] of Object.entries(targets.bases)) {
        const left = await settleAll(base);
        if (left.active + left.queued + left.sessions > 0)
          failures.push(
            `${name}: ${left.active} active, ${left.queued} queued, ${left.sessions} live sessions after the run`,
          );
      }
      rssPeak = Math.max(rssPeak, rssMb(live.pid));
      if (rssWarm === 0) rssWarm = rssPeak;
      if (rssPeak > 2 * rssWarm)
        failures.push(`RSS grew from ${rssWarm.toFixed(0)} MB to ${rssPeak.toFixed(0)} MB`);
    }
    failures.push(
      ...errorLogs(targets)
        .slice(0, 10)
        .map((line) => `error logged: ${line}`),
    );
  } finally {
    maxHealthMs = await poller.stop();
    await targets.keyed.stop();
    await live.server.stop();
  }
  const leftovers = filesUnder(live.spoolRoot).concat(filesUnder(targets.keyedSpool));
  if (leftovers.length > 0)
    failures.push(`${leftovers.length} temp files left: ${leftovers.slice(0, 3).join(', ')}`);
  if (maxHealthMs > 1000) failures.push(`/health took ${maxHealthMs.toFixed(0)} ms`);
  rmSync(live.root, { recursive: true, force: true });
  return {
    passed: failures.length === 0,
    failures,
    counts: tally,
    maxHealthMs,
    rssWarmMb: rssWarm,
    rssPeakMb: rssPeak,
    cases: done,
  };
}

export function formatProtocolReport(report: ProtocolFuzzReport, seed: number): string {
  const lines = [
    `protocol fuzz seed ${seed}: ${report.cases} cases`,
    'class              outcome                      count',
  ];
  const keys = [...report.counts.keys()].sort();
  for (const cls of PROTOCOL_CLASSES) {
    for (const key of keys.filter((k) => k.startsWith(`${cls} `))) {
      lines.push(`${cls.padEnd(18)} ${key.slice(cls.length + 1).padEnd(28)} ${report.counts.get(key)}`);
    }
  }
  lines.push(...outcomeLines(report, seed));
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('run-protocol-fuzz.js')) {
  const seed = numericFlag('seed') ?? 1;
  const only = numericFlag('only');
  const concurrency = numericFlag('concurrency');
  const report = await runProtocolFuzz({
    requests: numericFlag('requests') ?? 2000,
    seed,
    ...(only === undefined ? {} : { only }),
    ...(concurrency === undefined ? {} : { concurrency }),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(`${formatProtocolReport(report, seed)}\n`);
  process.exitCode = report.passed ? 0 : 1;
}
