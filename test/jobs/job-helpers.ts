import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { FormData, request } from 'undici';
import { ServiceProcess } from '../support/service-process.js';

export const JOBS = '/v1/audio/transcriptions/jobs';
export const WEBHOOK_SECRET = `whsec_${Buffer.from('voice-stack test webhook key').toString('base64')}`;

export interface JobView {
  id: string;
  status: string;
  progress: number;
  audio_seconds: number;
  queue_position?: number | null;
  error?: { message: string; code: string };
  metadata?: unknown;
  result_url: string;
  started_at: number | null;
  finished_at: number | null;
}

export async function submitJob(
  base: string,
  file: string | Buffer,
  fields: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; location: string | undefined }> {
  const form = new FormData();
  const data = typeof file === 'string' ? readFileSync(file) : file;
  form.append('file', new Blob([new Uint8Array(data)]), 'audio.wav');
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const response = await request(`${base}${JOBS}`, { method: 'POST', body: form });
  const body = (await response.body.json()) as Record<string, unknown>;
  const location = response.headers.location;
  return { status: response.statusCode, body, location: typeof location === 'string' ? location : undefined };
}

export async function getJob(base: string, id: string): Promise<JobView> {
  const response = await request(`${base}${JOBS}/${id}`);
  if (response.statusCode === 503) {
    await response.body.dump();
    throw Object.assign(new Error(`GET job ${id}: 503`), { unavailable: true });
  }
  if (response.statusCode !== 200)
    throw new Error(`GET job ${id}: ${response.statusCode} ${await response.body.text()}`);
  return (await response.body.json()) as JobView;
}

export async function waitForJob(
  base: string,
  id: string,
  until: (job: JobView) => boolean,
  timeoutMs = 60_000,
): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  let job: JobView | undefined;
  while (true) {
    // 503 while Redis restarts: keep asking.
    job = await getJob(base, id).catch((error: { unavailable?: boolean }) => {
      if (error.unavailable) return job;
      throw error;
    });
    if (job && until(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} stuck at ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const ended = (job: JobView) => ['succeeded', 'failed', 'cancelled'].includes(job.status);

export async function metricValue(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await request(`${url}/metrics`)).body.text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** A `voice-stack worker asr` process; its /metrics address is its one listening URL. */
export function startWorker(env: Record<string, string>): Promise<ServiceProcess> {
  return ServiceProcess.start(['worker', 'asr'], { WORKER_METRICS_PORT: '0', ...env });
}

export interface Delivery {
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  readonly verified: boolean;
}

/** A webhook receiver that checks each delivery's Standard Webhooks signature. */
export class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  /** Status to answer for the next calls (then 200). */
  failures: number[] = [];

  private constructor(readonly server: Server) {}

  static async start(): Promise<WebhookReceiver> {
    let receiver: WebhookReceiver | undefined;
    const server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const body = Buffer.concat(parts).toString('utf8');
        receiver?.deliveries.push({ headers: req.headers, body, verified: verify(req.headers, body) });
        const status = receiver?.failures.shift() ?? 200;
        res.writeHead(status).end();
      });
    });
    receiver = new WebhookReceiver(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return receiver;
  }

  get url(): string {
    const address = this.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
  }

  for(id: string): Delivery[] {
    return this.deliveries.filter((d) => (JSON.parse(d.body) as { id: string }).id === id);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
  }
}

/** The receiver's side of the spec, written from it independently of the sender's code. */
function verify(headers: Record<string, string | string[] | undefined>, body: string): boolean {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signature = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signature !== 'string') return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const key = Buffer.from(WEBHOOK_SECRET.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  return signature.split(' ').some((entry) => {
    const [version, value] = entry.split(',');
    if (version !== 'v1' || value === undefined) return false;
    const given = Buffer.from(value, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/** Log lines come through a pipe, a moment after what they tell is visible in Redis. */
export async function eventually(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
