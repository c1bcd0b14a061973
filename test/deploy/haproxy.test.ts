/**
 * deploy/haproxy/haproxy.cfg, as shipped, in front of two real `voice-stack serve asr`
 * replicas on the generated model (and two TTS replicas): HAProxy's /ready checks route
 * around a full replica, and a replica stopped with SIGTERM under load costs no client a
 * failed request.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Agent, type Dispatcher, FormData, request } from 'undici';
import { wavHeader } from '../../src/audio/wav.js';
import { parseSettings } from '../../src/core/settings.js';
import { loopedSpeechWav, testWhisperModel } from '../support/fixtures.js';
import { freePort, HAPROXY_CONFIG, HaproxyProcess, haproxyBinary } from '../support/haproxy-process.js';
import { detailedHealth, http } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';
import { assertRefusedTooLarge, streamUpload } from '../support/upload.js';

/** HAProxy time units as the file writes them: 500ms, 5s, 10m, 3h. */
function seconds(value: string): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(value);
  assert.ok(match, `time ${value}`);
  return Number(match[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[match[2] as 'ms' | 's' | 'm' | 'h'];
}

describe('deploy/haproxy/haproxy.cfg', () => {
  const text = readFileSync(HAPROXY_CONFIG, 'utf8');
  const defaults = parseSettings({});
  /** A variable's default as the file sets it with presetenv. */
  const preset = (name: string) => new RegExp(`^\\s*presetenv\\s+${name}\\s+(\\S+)`, 'm').exec(text)?.[1];

  it('is valid for `haproxy -c`', () => {
    const check = spawnSync(haproxyBinary(), ['-c', '-f', HAPROXY_CONFIG], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(check.status, 0, check.stdout + check.stderr);
  });

  it('waits longer than the longest request: a full queue wait, a whole upload, then some', () => {
    assert.match(text, /^\s*timeout server "\$\{LB_TIMEOUT\}"$/m);
    assert.match(text, /^\s*timeout client "\$\{LB_TIMEOUT\}"$/m);
    const timeout = seconds(preset('LB_TIMEOUT') ?? '');
    assert.ok(
      timeout > defaults.queueTimeoutSeconds + defaults.requestTimeoutSeconds,
      `LB_TIMEOUT ${timeout} s`,
    );
  });

  it('checks /ready, and marks a replica down within the default drain notice', () => {
    const backends = text.split(/^backend /m).slice(1);
    assert.equal(backends.length, 2);
    for (const backend of backends) {
      assert.match(backend, /^\s*http-check send meth GET uri \/ready\b/m);
      assert.match(backend, /^\s*http-check expect status 200$/m);
      const server = /default-server check inter (\S+) fastinter (\S+) .*fall (\d+)/.exec(backend);
      assert.ok(server, 'check timings');
      const [, inter = '', fastinter = '', fall = ''] = server;
      // The first failed check comes within one interval, the rest at the fast interval.
      const markedDown = seconds(inter) + (Number(fall) - 1) * seconds(fastinter);
      assert.ok(markedDown < defaults.drainNoticeSeconds, `down after ${markedDown} s`);
    }
  });

  it('retries only what cannot have run: refused connections and 503s, never a job submission', () => {
    assert.match(text, /^\s*retry-on conn-failure 503$/m);
    assert.match(text, /^\s*option redispatch 1$/m);
    assert.match(text, /disable-l7-retry if METH_POST \{ path_beg \/v1\/audio\/transcriptions\/jobs \}/);
  });
});

interface Fleet {
  readonly replicas: readonly [ServiceProcess, ServiceProcess];
  /** Two TTS replicas when asked for, else none (the TTS servers are then down). */
  readonly ttsReplicas: readonly ServiceProcess[];
  readonly lb: HaproxyProcess;
  /** The ASR frontend, as clients see it. */
  readonly url: string;
  /** The TTS frontend. */
  readonly ttsUrl: string;
  stop(): Promise<void>;
}

/**
 * Two ASR replicas (and two TTS replicas with `tts`) and HAProxy in front, every
 * started server UP; everything stopped on any failure.
 */
async function startFleet(env: Record<string, string>, options: { tts?: boolean } = {}): Promise<Fleet> {
  const model = await testWhisperModel();
  const started: ServiceProcess[] = [];
  let lb: HaproxyProcess | undefined;
  const stop = async () => {
    await lb?.stop();
    await Promise.all(started.map((replica) => replica.stop()));
  };
  try {
    for (let i = 0; i < 2; i++) {
      // One thread each: two replicas and their load share two cores.
      started.push(
        await ServiceProcess.start(['serve', 'asr'], { ASR_MODEL: model, ASR_CPU_THREADS: '1', ...env }),
      );
    }
    const [a, b] = started as [ServiceProcess, ServiceProcess];
    const ttsReplicas: ServiceProcess[] = [];
    for (let i = 0; options.tts && i < 2; i++) {
      const replica = await ServiceProcess.start(['serve', 'tts'], env);
      started.push(replica);
      ttsReplicas.push(replica);
    }
    // Without TTS replicas the TTS frontend still binds; its servers are simply down.
    const ttsServer = async (i: number) =>
      ttsReplicas[i] ? new URL(ttsReplicas[i].url('tts')).host : `127.0.0.1:${await freePort()}`;
    const [asrPort, ttsPort] = [await freePort(), await freePort()];
    lb = await HaproxyProcess.start({
      LB_ASR_BIND: `127.0.0.1:${asrPort}`,
      LB_ASR_1: new URL(a.url('asr')).host,
      LB_ASR_2: new URL(b.url('asr')).host,
      LB_TTS_BIND: `127.0.0.1:${ttsPort}`,
      LB_TTS_1: await ttsServer(0),
      LB_TTS_2: await ttsServer(1),
    });
    const servers = ['asr/asr1', 'asr/asr2', ...(options.tts ? ['tts/tts1', 'tts/tts2'] : [])];
    for (const server of servers) await lb.waitForState(server, 'UP');
    return {
      replicas: [a, b],
      ttsReplicas,
      lb,
      url: `http://127.0.0.1:${asrPort}`,
      ttsUrl: `http://127.0.0.1:${ttsPort}`,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface Answer {
  readonly status: number;
  readonly text: string;
}

/** One transcription; bounded, so a wrong turn fails the test instead of hanging it. */
async function transcribe(
  base: string,
  audio: Buffer,
  options: { dispatcher: Dispatcher; signal?: AbortSignal },
): Promise<Answer> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(audio)]), 'speech.wav');
  const response = await request(`${base}/v1/audio/transcriptions`, {
    method: 'POST',
    body: form,
    dispatcher: options.dispatcher,
    ...(options.signal ? { signal: options.signal } : {}),
    headersTimeout: 120_000,
    bodyTimeout: 120_000,
  });
  return { status: response.statusCode, text: await response.body.text() };
}

/** Transcription requests a replica has answered, from its own request log. */
function served(replica: ServiceProcess, since = 0): number {
  return replica.logs.filter(
    (line) =>
      line.msg === 'request completed' &&
      line.url === '/v1/audio/transcriptions' &&
      typeof line.time === 'number' &&
      line.time >= since,
  ).length;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitUntil(what: string, predicate: () => Promise<boolean> | boolean, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Short keep-alive: no idle socket outlives the test or pins a request to a closing server. */
const newAgent = () => new Agent({ keepAliveTimeout: 1000, keepAliveMaxTimeout: 1000 });

describe('HAProxy in front of two ASR and two TTS replicas: /ready routes around a full replica', () => {
  let fleet: Fleet | undefined;
  const agent = newAgent();
  const short = readFileSync(loopedSpeechWav(5));

  before(async () => {
    fleet = await startFleet(
      { ASR_MAX_CONCURRENT_REQUESTS: '1', ASR_MAX_QUEUE_SIZE: '1', MAX_UPLOAD_SIZE_MB: '25' },
      { tts: true },
    );
  });
  after(async () => {
    await agent.destroy();
    await fleet?.stop();
  });

  it("passes uploads up to the service's limit, and the service's own 413 beyond it", async () => {
    const { url, replicas } = fleet as Fleet;
    // 20 MB of silence: streamed through whole, decoded and answered by a replica.
    const silence = Buffer.alloc(20 * 1024 * 1024);
    const big = Buffer.concat([wavHeader(16000, silence.length), silence]);
    const answer = await transcribe(url, big, { dispatcher: agent });
    assert.equal(answer.status, 200, answer.text);
    const total = 40 * 1024 * 1024;
    const both = {
      logsWith: (field: string, value: unknown) => replicas.flatMap((r) => r.logsWith(field, value)),
      waitFor: (p: () => boolean, ms: number, what: string) => replicas[0].waitFor(p, ms, what),
    };
    const upload = () =>
      streamUpload(`${url}/v1/audio/transcriptions`, total, {
        chunked: false,
        contentType: 'multipart/form-data; boundary=XyZ',
        preamble:
          '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n',
      });
    await assertRefusedTooLarge(both, upload, { totalBytes: total, chunked: false });
  });

  it('the TTS frontend serves speech from the TTS replicas', async () => {
    const { ttsUrl, ttsReplicas } = fleet as Fleet;
    const speechServed = () =>
      ttsReplicas
        .flatMap((r) => r.logs)
        .filter((l) => l.msg === 'request completed' && l.url === '/v1/audio/speech').length;
    const before = speechServed();
    for (let i = 0; i < 2; i++) {
      const answer = await http(`${ttsUrl}/v1/audio/speech`, { json: { input: 'Through the balancer.' } });
      assert.equal(answer.status, 200, answer.body.toString());
      assert.ok(answer.body.length > 0);
    }
    await waitUntil('the TTS replicas to log both', () => speechServed() === before + 2, 5000);
  });

  it('a full replica answers /ready 503 and HAProxy sends new requests to the other', async () => {
    const { url, replicas, lb } = fleet as Fleet;
    const [a, b] = replicas;
    const direct = newAgent();
    const hold = new AbortController();
    const long = readFileSync(loopedSpeechWav(600));
    const holding: Promise<unknown>[] = [];
    try {
      for (const replica of replicas) {
        assert.equal((await transcribe(replica.url('asr'), short, { dispatcher: direct })).status, 200);
      }
      // A takes one long transcription into its only slot and one into its only queue place.
      for (const expected of [
        { active: 1, queued: 0 },
        { active: 1, queued: 1 },
      ]) {
        holding.push(
          transcribe(a.url('asr'), long, { dispatcher: direct, signal: hold.signal }).catch(() => undefined),
        );
        await waitUntil('A to take the long one', async () => {
          const { concurrency } = await detailedHealth(a.url('asr'));
          return concurrency.active_requests === expected.active && concurrency.queued === expected.queued;
        });
      }
      const ready = await http(`${a.url('asr')}/ready`, { headers: { connection: 'close' } });
      assert.equal(ready.status, 503);
      assert.deepEqual(ready.json(), { status: 'not_ready', reason: 'queue full' });
      await lb.waitForState('asr/asr1', 'DOWN');
      assert.equal((await lb.serverStates()).get('asr/asr2'), 'UP');

      const aBefore = served(a);
      const bBefore = served(b);
      for (let i = 0; i < 4; i++) {
        const answer = await transcribe(url, short, { dispatcher: agent });
        assert.equal(answer.status, 200, answer.text);
      }
      await waitUntil('B to log the four', () => served(b) === bBefore + 4, 5000);
      assert.equal(served(a), aBefore, 'the full replica got none of them');

      hold.abort();
      await Promise.all(holding);
      await lb.waitForState('asr/asr1', 'UP');
    } finally {
      hold.abort();
      await Promise.all(holding);
      await direct.destroy();
    }
  });
});

describe('HAProxy in front of two ASR replicas: SIGTERM under load', () => {
  it('stops one replica while clients keep sending: no client request fails', async () => {
    const fleet = await startFleet({
      ASR_MAX_CONCURRENT_REQUESTS: '1',
      // Longer than HAProxy needs to mark it down (inter 1 s × fall 2, plus a check in flight).
      DRAIN_NOTICE_SECONDS: '4',
      SHUTDOWN_GRACE_SECONDS: '30',
    });
    const agent = newAgent();
    const short = readFileSync(loopedSpeechWav(5));
    const answers: Answer[] = [];
    let running = true;
    const client = async () => {
      while (running) {
        try {
          answers.push(await transcribe(fleet.url, short, { dispatcher: agent }));
        } catch (error) {
          answers.push({ status: 0, text: String(error) });
        }
      }
    };
    const clients: Promise<void>[] = [];
    try {
      const [a, b] = fleet.replicas;
      for (let i = 0; i < 3; i++) clients.push(client());
      await waitUntil('both replicas to serve', () => served(a) >= 2 && served(b) >= 2);
      const sentAt = Date.now();
      a.child.kill('SIGTERM');
      await a.waitFor(() => a.logsWith('event', 'shutdown_started').length > 0, 5000, 'the drain');
      await a.waitFor(() => a.exitCode !== null, 40_000, 'A to exit');
      assert.equal(a.exitCode, 0, 'A drained in time');
      const exitedAfter = (Date.now() - sentAt) / 1000;
      const afterExit = answers.length;
      await waitUntil('B to serve six more', () => answers.length >= afterExit + 6);
      running = false;
      await Promise.all(clients);

      const failed = answers.filter((answer) => answer.status !== 200);
      const duringNotice = served(a, sentAt);
      console.log(
        `${answers.length} requests through HAProxy, ${failed.length} failed; A served ${duringNotice} ` +
          `after SIGTERM and exited ${exitedAfter.toFixed(1)} s later`,
      );
      assert.deepEqual(
        failed.map((f) => `${f.status}: ${f.text.slice(0, 200)}`),
        [],
      );
      assert.equal((await fleet.lb.serverStates()).get('asr/asr1'), 'DOWN');
    } finally {
      running = false;
      await agent.destroy();
      await Promise.all(clients);
      await fleet.stop();
    }
  });
});
