/**
 * The two ways a speech response is produced from text chunks. Both hold one
 * inference slot for the whole request and stop between chunks (and inside the
 * running one) when the client goes away.
 *
 * - `synthesizeWhole`: every chunk, then one encode; the body has a length.
 * - `streamSpeech`: each chunk is encoded and sent as soon as it is made; the
 *   status and headers wait for the first chunk, so a failure before any audio is
 *   still an ordinary JSON error, and the first byte costs about one sentence.
 */
import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type AudioFormat, contentTypeFor, encodeAudio } from '../audio/encode.js';
import { durationSeconds, type PcmAudio } from '../audio/pcm-audio.js';
import type { ServiceRuntime } from '../core/service-runtime.js';
import type { SynthesisResult, TtsEngine } from './engines/tts-engine.js';
import { createStreamEncoder, type StreamEncoder } from './stream-encoder.js';

export type StreamFormat = 'audio' | 'sse';

export interface SpeechJob {
  readonly chunks: readonly string[];
  readonly voice: string;
  readonly speed: number;
  readonly format: AudioFormat;
}

type Runtime = ServiceRuntime<TtsEngine>;

async function synthesizeChunk(
  runtime: Runtime,
  engine: TtsEngine,
  job: SpeechJob,
  text: string,
  signal: AbortSignal,
): Promise<SynthesisResult> {
  const result = await engine.synthesize({ text, voice: job.voice, speed: job.speed }, signal);
  runtime.metrics.audioSeconds.inc(durationSeconds(result.audio) / result.residualSpeed);
  return result;
}

function concatAudio(results: readonly SynthesisResult[]): PcmAudio {
  const total = results.reduce((n, r) => n + r.audio.samples.length, 0);
  const samples = new Float32Array(total);
  let offset = 0;
  for (const { audio } of results) {
    samples.set(audio.samples, offset);
    offset += audio.samples.length;
  }
  return { sampleRate: results[0]?.audio.sampleRate ?? 22050, samples };
}

export async function synthesizeWhole(
  runtime: Runtime,
  request: FastifyRequest,
  reply: FastifyReply,
  job: SpeechJob,
): Promise<{ body: Buffer; sampleRate: number }> {
  return runtime.gate.run(request, reply, async (engine, signal) => {
    const results: SynthesisResult[] = [];
    for (const text of job.chunks) results.push(await synthesizeChunk(runtime, engine, job, text, signal));
    const audio = concatAudio(results);
    const tempo = results[0]?.residualSpeed ?? 1;
    return { body: await encodeAudio(audio, job.format, { tempo, signal }), sampleRate: audio.sampleRate };
  });
}

/** Wraps each encoded piece as an OpenAI-style `speech.audio.delta` server-sent event. */
function sseEvents(): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      done(
        null,
        `data: ${JSON.stringify({ type: 'speech.audio.delta', audio: chunk.toString('base64') })}\n\n`,
      );
    },
    flush(done: TransformCallback) {
      done(null, `data: ${JSON.stringify({ type: 'speech.audio.done' })}\n\n`);
    },
  });
}

interface Started {
  readonly sampleRate: number;
}

export async function streamSpeech(
  runtime: Runtime,
  request: FastifyRequest,
  reply: FastifyReply,
  job: SpeechJob,
  mode: StreamFormat,
): Promise<FastifyReply> {
  const body = new PassThrough();
  const encoded = mode === 'sse' ? sseEvents() : body;
  if (mode === 'sse') encoded.pipe(body);
  let onStart: (started: Started) => void = () => {};
  const started = new Promise<Started>((resolve) => {
    onStart = resolve;
  });
  const work = runtime.gate.run(request, reply, async (engine, signal) => {
    let encoder: StreamEncoder | undefined;
    try {
      for (const text of job.chunks) {
        const result = await synthesizeChunk(runtime, engine, job, text, signal);
        if (!encoder) {
          encoder = createStreamEncoder(job.format, result.audio.sampleRate, result.residualSpeed, encoded);
          onStart({ sampleRate: result.audio.sampleRate });
        }
        await encoder.write(result.audio.samples);
      }
      await encoder?.end();
    } catch (error) {
      encoder?.destroy();
      throw error;
    }
  });
  work.then(
    () => encoded.end(),
    (error: unknown) => body.destroy(error instanceof Error ? error : new Error(String(error))),
  );
  // Whichever comes first: the first audio (send headers, then stream) or a failure before it.
  const first = await Promise.race([started, work.then(() => started)]);
  return reply
    .type(mode === 'sse' ? 'text/event-stream' : contentTypeFor(job.format))
    .header('x-sample-rate', String(first.sampleRate))
    .header('cache-control', 'no-cache')
    .send(body);
}
