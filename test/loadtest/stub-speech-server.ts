import Fastify from 'fastify';

export interface StubOptions {
  slots?: number;
  maxQueue?: number;
  /** How long one "inference" takes. */
  serviceMs?: number;
  memoryPercent?: number;
  memoryThresholdPercent?: number;
  idleTimeoutMinutes?: number;
}

export interface StubServer {
  url: string;
  /** The highest number of requests that held a slot at once, as the server saw it. */
  peakActive: () => number;
  close: () => Promise<void>;
}

/**
 * A stand-in for a voice-stack service that keeps the /health/detailed contract of docs/API.md (slots,
 * bounded queue, 503 bodies, /health/detailed), so the runner's mechanics can be
 * tested without an engine. Listens on 127.0.0.1 only.
 */
export async function startStubServer(options: StubOptions = {}): Promise<StubServer> {
  const slots = options.slots ?? 2;
  const maxQueue = options.maxQueue ?? 64;
  const serviceMs = options.serviceMs ?? 20;
  const memoryPercent = options.memoryPercent ?? 40;
  const threshold = options.memoryThresholdPercent ?? 90;
  let active = 0;
  let peak = 0;
  let loaded = false;
  const waiting: Array<() => void> = [];
  const app = Fastify();
  app.addContentTypeParser('multipart/form-data', { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  );

  const refuse = (message: string) => ({ error: { message, type: 'service_unavailable', code: 'VS_ERR' } });
  const admit = async (work: () => Promise<void>): Promise<string | undefined> => {
    if (memoryPercent >= threshold) return `Resource threshold exceeded (memory: ${memoryPercent}%)`;
    if (active >= slots) {
      if (waiting.length >= maxQueue)
        return 'Too many concurrent requests: every inference slot is busy and the wait queue is full. Retry later.';
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
    active++;
    peak = Math.max(peak, active);
    loaded = true;
    try {
      await work();
    } finally {
      active--;
      waiting.shift()?.();
    }
    return undefined;
  };
  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/health/detailed', async () => ({
    status: 'ok',
    service: 'stub',
    timestamp: new Date().toISOString(),
    memory: { percent: memoryPercent, available_mb: 1000, total_mb: 2000, threshold_percent: threshold },
    swap: { percent: 0, used_mb: 0, total_mb: 0, threshold_percent: 80 },
    model: { loaded, engine: 'stub', model_name: 'stub', device: 'cpu', last_used: null },
    concurrency: {
      active_requests: active,
      max_concurrent: slots,
      available_slots: slots - active,
      queued: waiting.length,
      max_queue: maxQueue,
    },
    config: { idle_timeout_minutes: options.idleTimeoutMinutes ?? 60, max_upload_mb: 100 },
  }));
  app.post('/v1/audio/speech', async (request, reply) => {
    const input = String((request.body as { input?: unknown }).input ?? '');
    let audio: Buffer = Buffer.alloc(0);
    const refused = await admit(async () => {
      await sleep(serviceMs);
      audio = silentWav(Math.max(0.1, input.length * 0.05));
    });
    if (refused) return reply.code(503).header('retry-after', '1').send(refuse(refused));
    return reply.type('audio/wav').send(audio);
  });
  app.post('/v1/audio/transcriptions', async (_request, reply) => {
    const refused = await admit(() => sleep(serviceMs));
    if (refused) return reply.code(503).header('retry-after', '1').send(refuse(refused));
    return { text: 'hello world' };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, peakActive: () => peak, close: () => app.close() };
}

/** 16 kHz mono 16-bit silence with a correct header. */
export function silentWav(seconds: number): Buffer {
  const dataBytes = Math.round(seconds * 16_000) * 2;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(16_000, 24);
  header.writeUInt32LE(32_000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(dataBytes, 40);
  return Buffer.concat([header, Buffer.alloc(dataBytes)]);
}
