import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { testWhisperModel } from '../support/fixtures.js';
import { detailedHealth, http } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

const BODY_IDLE_S = 2;
const REQUEST_TIMEOUT_S = 6;
const PER_IP = 240;
const MAX_CONNECTIONS = 260;

interface RawClient {
  readonly socket: Socket;
  readonly opened: number;
  /** Resolves with what the server sent and when the socket closed. */
  readonly closed: Promise<{ at: number; received: string }>;
}

/** A raw TCP client: HTTP as an attacker writes it, not as undici would. */
function rawClient(base: string, localAddress = '127.0.0.1'): Promise<RawClient> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), localAddress }, () => {
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
      });
      socket.on('error', () => {});
      const closed = new Promise<{ at: number; received: string }>((done) =>
        socket.once('close', () => done({ at: Date.now(), received })),
      );
      resolve({ socket, opened: Date.now(), closed });
    });
    socket.once('error', reject);
  });
}

function uploadHead(base: string, contentLength: number): string {
  const { host } = new URL(base);
  return [
    'POST /v1/audio/transcriptions HTTP/1.1',
    `Host: ${host}`,
    'Content-Type: multipart/form-data; boundary=XYZ',
    `Content-Length: ${contentLength}`,
    '',
    '--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n',
  ].join('\r\n');
}

/** Times /health on a keep-alive connection every `everyMs` until `stop` resolves. */
async function healthLatencies(base: string, stop: Promise<unknown>, everyMs = 50): Promise<number[]> {
  let done = false;
  void stop.finally(() => {
    done = true;
  });
  const latencies: number[] = [];
  while (!done) {
    const started = performance.now();
    const response = await http(`${base}/health`);
    assert.equal(response.status, 200);
    latencies.push(performance.now() - started);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return latencies;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

describe('slow clients against a real ASR service', () => {
  let server: ServiceProcess;
  let base: string;

  before(async () => {
    server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      BODY_IDLE_TIMEOUT_SECONDS: String(BODY_IDLE_S),
      REQUEST_TIMEOUT_SECONDS: String(REQUEST_TIMEOUT_S),
      HEADERS_TIMEOUT_SECONDS: '5',
      MAX_CONNECTIONS: String(MAX_CONNECTIONS),
      MAX_CONNECTIONS_PER_IP: String(PER_IP),
    });
    base = server.url('asr');
  });
  after(() => server.stop());

  it('cuts 200 trickling uploads at REQUEST_TIMEOUT_SECONDS with a 408, /health answering throughout', async () => {
    const clients = await Promise.all(Array.from({ length: 200 }, () => rawClient(base)));
    for (const { socket } of clients) socket.write(uploadHead(base, 10_000_000));
    // One byte every half second: never idle, never done.
    const trickle = setInterval(() => {
      for (const { socket } of clients) if (!socket.destroyed) socket.write('x');
    }, 500);
    const allClosed = Promise.all(clients.map((c) => c.closed));
    const latencies = await healthLatencies(base, allClosed);
    clearInterval(trickle);
    const ends = await allClosed;
    const cutAfter = ends.map((end, i) => (end.at - (clients[i]?.opened ?? 0)) / 1000);
    const p99 = percentile(latencies, 99);
    console.log(
      `trickle: 200 cut after ${Math.min(...cutAfter).toFixed(2)}–${Math.max(...cutAfter).toFixed(2)} s; ` +
        `/health p99 ${p99.toFixed(1)} ms over ${latencies.length} probes`,
    );
    assert.ok(Math.min(...cutAfter) >= REQUEST_TIMEOUT_S - 0.5, 'not cut before the bound');
    assert.ok(Math.max(...cutAfter) <= REQUEST_TIMEOUT_S + 3, 'cut within the bound and the check interval');
    const answered = ends.filter((end) => end.received.startsWith('HTTP/1.1 408'));
    assert.ok(answered.length >= 190, `${answered.length} of 200 got the 408`);
    assert.match(answered[0]?.received ?? '', /"code":"VS_ERR_REQUEST_TIMEOUT"/);
    assert.ok(p99 < 500, `/health p99 ${p99} ms`);
  });

  it('closes requests that declare more body than they send after BODY_IDLE_TIMEOUT_SECONDS', async () => {
    const clients = await Promise.all(Array.from({ length: 40 }, () => rawClient(base)));
    for (const { socket } of clients) socket.write(`${uploadHead(base, 100_000)}${'x'.repeat(1000)}`);
    const ends = await Promise.all(clients.map((c) => c.closed));
    const cutAfter = ends.map((end, i) => (end.at - (clients[i]?.opened ?? 0)) / 1000);
    console.log(
      `short body: 40 cut after ${Math.min(...cutAfter).toFixed(2)}–${Math.max(...cutAfter).toFixed(2)} s`,
    );
    assert.ok(Math.min(...cutAfter) >= BODY_IDLE_S - 0.3);
    assert.ok(Math.max(...cutAfter) <= BODY_IDLE_S + 2);
    for (const end of ends) {
      assert.match(end.received, /^HTTP\/1.1 408/);
      assert.match(end.received, /BODY_IDLE_TIMEOUT_SECONDS/);
    }
  });

  it('leaves no slot, queue entry or spool file behind', async () => {
    const health = await detailedHealth(base);
    assert.equal(health.concurrency.active_requests, 0);
    assert.equal(health.concurrency.queued, 0);
    const spool = join(tmpdir(), `voice-stack-uploads-${server.child.pid}`);
    // Spools are removed once their writers close: give the last ones a moment.
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await readdir(spool).catch(() => []), []);
    assert.equal(server.exitCode, null, 'still running');
  });

  it('refuses connections over MAX_CONNECTIONS_PER_IP and MAX_CONNECTIONS, then serves once below', async () => {
    const fromOne = await Promise.all(Array.from({ length: PER_IP + 5 }, () => rawClient(base, '127.0.0.5')));
    await sleep(1000);
    const cut = fromOne.filter(({ socket }) => socket.destroyed).length;
    console.log(
      `per-IP cap ${PER_IP}: ${cut} of ${fromOne.length} connections from one address closed at once`,
    );
    assert.equal(cut, 5, 'exactly the connections over the per-address cap are closed');
    // Another address still gets in: one client cannot lock out the probes.
    const other = await rawClient(base, '127.0.0.2');
    other.socket.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match((await other.closed).received, /^HTTP\/1.1 200/);
    const more = await Promise.all(
      Array.from({ length: MAX_CONNECTIONS - PER_IP + 5 }, () => rawClient(base, '127.0.0.3')),
    );
    const overAll = await rawClient(base, '127.0.0.4');
    const refused = await Promise.race([overAll.closed.then(() => true), sleep(1000).then(() => false)]);
    assert.ok(refused, 'a connection over MAX_CONNECTIONS is closed at once');
    for (const { socket } of [...fromOne, ...more]) socket.destroy();
    await sleep(300);
    const fresh = await rawClient(base, '127.0.0.4');
    fresh.socket.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match((await fresh.closed).received, /^HTTP\/1.1 200/);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
