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

import type { Readable } from 'node:stream';
import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import type { Logger } from 'pino';
import { type AudioFormat, contentTypeFor, encodeAudio } from '../audio/encode.js';
import { durationSeconds, type PcmAudio } from '../audio/pcm-audio.js';
import { resample, resampleInSlices } from '../audio/resample.js';
import { floatToS16le, wavHeader } from '../audio/wav.js';
import { invalidParameterError } from '../core/errors.js';
import type { ServiceRuntime } from '../core/runtime/service-runtime.js';
import type { SynthesisResult, TtsEngine } from './engines/tts-engine.js';
import { createStreamEncoder, type StreamEncoder } from './stream-encoder.js';

export type StreamFormat = 'audio' | 'sse';

export interface SpeechJob {
  readonly chunks: readonly string[];
  readonly voice: string;
  readonly speed: number;
  readonly format: AudioFormat;
  /** MAX_SPEECH_SECONDS: the most audio this request may produce. */
  readonly maxSeconds: number;
}

type Runtime = ServiceRuntime<TtsEngine>;

/**
 * Synthesises the job's chunks, counting the audio they make: a short text can expand
 * into a very long recording (one character read as several words), so the bound is
 * on what comes out, checked after every chunk or streamed piece.
 */
async function* synthesizeChunks(
  runtime: Runtime,
  engine: TtsEngine,
  job: SpeechJob,
  signal: AbortSignal,
  produced: { seconds: number } = { seconds: 0 },
  atEngineRate = false,
): AsyncGenerator<SynthesisResult> {
  for await (const result of engineResults(engine, job, signal)) {
    const chunkSeconds = durationSeconds(result.audio) / result.residualSpeed;
    produced.seconds += chunkSeconds;
    if (produced.seconds > job.maxSeconds) {
      throw invalidParameterError(
        'input',
        `would produce more than MAX_SPEECH_SECONDS (${job.maxSeconds} s) of audio; send it in parts`,
      );
    }
    runtime.metrics.audioSeconds.inc(chunkSeconds);
    yield atEngineRate ? result : { ...result, audio: atFormatRate(result.audio, job.format) };
  }
}

/**
 * The engine's audio for the job: the whole text at once where the engine prefers it
 * (one espeak-ng process for every sentence), otherwise chunk by chunk. Leaving the
 * loop early (MAX_SPEECH_SECONDS, a client gone) stops the engine either way.
 */
export async function* engineResults(
  engine: TtsEngine,
  job: SpeechJob,
  signal: AbortSignal,
): AsyncGenerator<SynthesisResult> {
  if (engine.synthesizeText) {
    yield* engine.synthesizeText({ text: job.chunks.join(' '), voice: job.voice, speed: job.speed }, signal);
    return;
  }
  for (const text of job.chunks) {
    yield await engine.synthesize({ text, voice: job.voice, speed: job.speed }, signal);
  }
}

/** OpenAI defines `pcm` as 24 kHz: clients play it at that rate whatever the engine made. */
export const PCM_RATE = 24_000;

function atFormatRate(audio: PcmAudio, format: AudioFormat): PcmAudio {
  if (format !== 'pcm' || audio.sampleRate === PCM_RATE) return audio;
  return { sampleRate: PCM_RATE, samples: resample(audio.samples, audio.sampleRate, PCM_RATE) };
}

/** The resampler's work per streamed slice: about a quarter of a millisecond, 0.27 s of 24 kHz audio. */
const STREAM_SLICE_MACS = 1 << 18;

/**
 * atFormatRate's samples a slice at a time (the same samples: the slices of one resampler
 * run, no edge between them), so a long piece (a Piper sentence: seconds of audio) puts its
 * first bytes on the wire after one slice is resampled, not after the whole sentence.
 */
function formatRateSlices(audio: PcmAudio, format: AudioFormat): Iterable<Float32Array> {
  if (format !== 'pcm' || audio.sampleRate === PCM_RATE) return [audio.samples];
  return resampleInSlices(audio.samples, audio.sampleRate, PCM_RATE, STREAM_SLICE_MACS);
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
  callerSignal: AbortSignal,
  job: SpeechJob,
): Promise<{ body: Buffer; sampleRate: number }> {
  return runtime.gate.run(callerSignal, async (engine, signal) => {
    const results: SynthesisResult[] = [];
    // WAV and raw PCM at the natural tempo are 16-bit samples: each piece is converted as
    // it arrives, while the engine (espeak-ng, a child process) makes the next one, so the
    // end of synthesis leaves only the header and one copy, not a float concatenation and a
    // conversion of the whole text (about 2 ms of a 20 ms request for 14 s of speech).
    // Every piece is taken at the first one's rate and tempo, as concatAudio does.
    const s16: Buffer[] = [];
    let s16Rate: number | undefined;
    for await (const result of synthesizeChunks(runtime, engine, job, signal)) {
      if (results.length === 0 && s16.length === 0 && isS16Job(job, result))
        s16Rate = result.audio.sampleRate;
      if (s16Rate === undefined) results.push(result);
      else s16.push(floatToS16le(result.audio.samples));
    }
    if (s16Rate !== undefined) return { body: s16Body(s16, s16Rate, job.format), sampleRate: s16Rate };
    const audio = concatAudio(results);
    const tempo = results[0]?.residualSpeed ?? 1;
    return { body: await encodeAudio(audio, job.format, { tempo, signal }), sampleRate: audio.sampleRate };
  });
}

function isS16Job(job: SpeechJob, result: SynthesisResult): boolean {
  return (job.format === 'wav' || job.format === 'pcm') && result.residualSpeed === 1;
}

function s16Body(parts: readonly Buffer[], sampleRate: number, format: AudioFormat): Buffer {
  const bytes = parts.reduce((n, part) => n + part.length, 0);
  return Buffer.concat(format === 'wav' ? [wavHeader(sampleRate, bytes), ...parts] : parts);
}

/** The `usage` of OpenAI's `speech.audio.done` event. */
export interface SpeechUsage {
  readonly input_tokens: number;
  readonly output_tokens: number;
  readonly total_tokens: number;
}

/** One output token per 20 ms of audio: the frame of Opus and of neural audio codecs. */
const OUTPUT_TOKENS_PER_SECOND = 50;
const wordSegmenter = new Intl.Segmenter(undefined, { granularity: 'word' });

/**
 * No engine here has OpenAI's tokenizer, so usage is counted in the nearest honest
 * units: input as words and punctuation marks (Unicode word segmentation, which also
 * splits scripts written without spaces), output as 20 ms frames of audio produced.
 */
export function speechUsage(text: string, audioSeconds: number): SpeechUsage {
  let inputTokens = 0;
  for (const segment of wordSegmenter.segment(text)) {
    if (segment.isWordLike || segment.segment.trim() !== '') inputTokens += 1;
  }
  const outputTokens = Math.ceil(audioSeconds * OUTPUT_TOKENS_PER_SECOND);
  return { input_tokens: inputTokens, output_tokens: outputTokens, total_tokens: inputTokens + outputTokens };
}

/** Wraps each encoded piece as an OpenAI-style `speech.audio.delta` server-sent event. */
function sseEvents(usage: () => SpeechUsage): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      done(
        null,
        `data: ${JSON.stringify({ type: 'speech.audio.delta', audio: chunk.toString('base64') })}\n\n`,
      );
    },
    flush(done: TransformCallback) {
      done(null, `data: ${JSON.stringify({ type: 'speech.audio.done', usage: usage() })}\n\n`);
    },
  });
}

interface Started {
  readonly sampleRate: number;
}

/** A speech stream whose first audio exists: the caller sends the headers, then `body`. */
export interface StartedSpeechStream {
  readonly body: Readable;
  readonly contentType: string;
  readonly sampleRate: number;
}

/**
 * Starts synthesis and resolves once the first audio is encoded (or rejects with the
 * failure before it). `callerSignal` aborts when the listener goes away.
 */
export async function streamSpeech(
  runtime: Runtime,
  callerSignal: AbortSignal,
  job: SpeechJob,
  mode: StreamFormat,
  log: Pick<Logger, 'debug'>,
): Promise<StartedSpeechStream> {
  const body = new PassThrough();
  const produced = { seconds: 0 };
  const usage = () => speechUsage(job.chunks.join(' '), produced.seconds);
  const encoded = mode === 'sse' ? sseEvents(usage) : body;
  if (mode === 'sse') encoded.pipe(body);
  let streaming = false;
  let onStart: (started: Started) => void = () => {};
  const started = new Promise<Started>((resolve) => {
    onStart = resolve;
  });
  const work = runtime.gate.run(callerSignal, async (engine, signal) => {
    let encoder: StreamEncoder | undefined;
    try {
      for await (const result of synthesizeChunks(runtime, engine, job, signal, produced, true)) {
        for (const samples of formatRateSlices(result.audio, job.format)) {
          if (encoder) {
            await encoder.write(samples);
            continue;
          }
          const sampleRate = job.format === 'pcm' ? PCM_RATE : result.audio.sampleRate;
          encoder = createStreamEncoder(job.format, sampleRate, result.residualSpeed, encoded);
          // A client gone mid-stream stops reading: closing the output frees an encoder waiting on it.
          signal.addEventListener('abort', () => encoded.destroy(), { once: true });
          streaming = true;
          onStart({ sampleRate });
          await encoder.write(samples);
          // The pieces after the first may already be here (espeak-ng's first write holds
          // 1.5 s of audio): each one resolves at once, and promise jobs run before the
          // stream and socket callbacks that send the headers and the first bytes. One
          // turn of the event loop lets those go first.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
      await encoder?.close();
    } catch (error) {
      await encoder?.destroy();
      throw error;
    }
  });
  // Before the first audio nobody reads `body`: a failure then (client gone while queued,
  // queue timeout, bad voice) is answered by the race below as an ordinary error, and
  // destroying an unread stream with an error would be an unhandled 'error' event.
  // After it, the reply owns `body`; cutting it is how a client learns the audio broke.
  body.on('error', (error) => log.debug({ err: error }, 'speech stream cut'));
  work.then(
    () => encoded.end(),
    (error: unknown) => {
      if (streaming) body.destroy(error instanceof Error ? error : new Error(String(error)));
      else body.end();
    },
  );
  // Whichever comes first: the first audio (send headers, then stream) or a failure before it.
  const first = await Promise.race([started, work.then(() => started)]);
  return {
    body,
    contentType: mode === 'sse' ? 'text/event-stream' : contentTypeFor(job.format),
    sampleRate: first.sampleRate,
  };
}
