/**
 * Any upload → mono Float32 at 16 kHz (what the ASR engines take). WAV is parsed in
 * process; everything else goes through ffmpeg, which streams from a file path when
 * there is one, so a long recording is never held as more than its decoded samples.
 */
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as eventLoopTurn } from 'node:timers/promises';
import { audioDecodeError, engineFailedError, isVoiceStackError } from '../core/errors.js';
import { FfmpegError, ffmpegAvailable, restrictedInputArgs, runFfmpeg } from './ffmpeg.js';
import type { PcmAudio } from './pcm-audio.js';
import { resample, resampleInSlices } from './resample.js';
import { assertWavHeader, isWav, s16leToFloat, type WavMonoReader, wavMonoReader } from './wav.js';

export type DecodeInput = { data: Uint8Array } | { path: string };

export interface DecodeOptions {
  signal?: AbortSignal;
  /** Output sample rate; 16000 unless set. */
  targetRate?: number;
  /** Longest ffmpeg may run. */
  timeoutMs?: number;
  /** Longest decoded audio accepted: a tiny compressed upload can expand to gigabytes of samples. */
  maxSeconds?: number;
}

interface DecodeContext {
  rate: number;
  signal: AbortSignal | undefined;
  timeoutMs: number;
  maxSeconds: number;
}

type FfmpegSource = { data: Uint8Array } | { path: string };

export const DEFAULT_DECODE_RATE = 16000;
const DEFAULT_TIMEOUT_MS = 10 * 60_000;
export const DEFAULT_MAX_SECONDS = 6 * 3600;
/**
 * Larger WAVs go to ffmpeg when it is there: parsing in process would add a float copy at
 * the source rate (3× the decoded size for 48 kHz) and is slower than ffmpeg's C resampler.
 */
const IN_PROCESS_WAV_MAX_BYTES = 4 * 1024 * 1024;
/**
 * In-process resampling runs on the event loop, so it takes at most this many output
 * samples (about two minutes at 16 kHz); longer results are ffmpeg's, in its own process.
 * A small WAV declaring a low rate would otherwise expand into an hour of work here.
 */
const IN_PROCESS_MAX_OUTPUT_SAMPLES = 2_000_000;
/**
 * Frames converted between two turns of the event loop when a WAV is decoded in slices: 64 Ki
 * frames of 16-bit mono take a few tenths of a millisecond, so a request arriving meanwhile
 * waits no longer than that.
 */
const WAV_FRAMES_PER_SLICE = 64 * 1024;
/** Enough for the header of any WAV a writer makes (fmt, LIST and fact chunks before data). */
const HEAD_BYTES = 4096;

export async function decodeAudio(input: DecodeInput, options: DecodeOptions = {}): Promise<PcmAudio> {
  options.signal?.throwIfAborted();
  const context = contextFrom(options);
  const audio =
    'data' in input ? await decodeData(input.data, context) : await decodePath(input.path, context);
  if (audio.samples.length === 0) throw audioDecodeError('the file contains no audio samples');
  return audio;
}

/**
 * decodeAudio of a file's bytes, as the samples in order in slices, with a turn of the event
 * loop between slices: a WAV parsed and resampled here runs on the event loop, and in one call
 * a 30 s upload held it for several milliseconds (one at 48 kHz for tens), delaying every request
 * that came in meanwhile (/health included). The samples are decodeAudio's, value for value.
 */
export async function* decodeAudioInSlices(
  data: Uint8Array,
  options: DecodeOptions = {},
): AsyncGenerator<Float32Array> {
  options.signal?.throwIfAborted();
  const context = contextFrom(options);
  if (data.length === 0) throw audioDecodeError('the file is empty');
  rejectPlaylist(data);
  if (!isWav(data) || (data.length > IN_PROCESS_WAV_MAX_BYTES && (await ffmpegAvailable()))) {
    yield (await decodeWithFfmpeg({ data }, context)).samples;
    return;
  }
  let reader: WavMonoReader;
  try {
    reader = inProcessWavReader(data, context.rate);
  } catch (wavError) {
    if (!isFfmpegsToDecode(wavError)) throw wavError;
    const audio = await decodeWithFfmpeg({ data }, context).catch(() => {
      throw wavError;
    });
    yield audio.samples;
    return;
  }
  yield* wavInSlices(reader, context);
}

/**
 * The slices of an in-process WAV. An abort is not checked between them: whoever reads them
 * (the engine) answers it as it always has, and the few slices left cost next to nothing.
 */
async function* wavInSlices(reader: WavMonoReader, context: DecodeContext): AsyncGenerator<Float32Array> {
  const turn = () => eventLoopTurn();
  if (reader.sampleRate === context.rate) {
    for (let from = 0; from < reader.frameCount; from += WAV_FRAMES_PER_SLICE) {
      const slice = new Float32Array(Math.min(WAV_FRAMES_PER_SLICE, reader.frameCount - from));
      reader.read(from, slice);
      yield slice;
      await turn();
    }
    return;
  }
  // The filter reads either side of each output sample: the whole input first, then the output.
  const mono = new Float32Array(reader.frameCount);
  for (let from = 0; from < reader.frameCount; from += WAV_FRAMES_PER_SLICE) {
    reader.read(from, mono.subarray(from, from + WAV_FRAMES_PER_SLICE));
    await turn();
  }
  for (const slice of resampleInSlices(mono, reader.sampleRate, context.rate)) {
    yield slice;
    await turn();
  }
}

/** Raw signed 16-bit little-endian mono PCM, resampled to the decode rate. */
export function decodeRawPcm16(
  data: Uint8Array,
  sampleRate = DEFAULT_DECODE_RATE,
  targetRate = DEFAULT_DECODE_RATE,
): PcmAudio {
  if (data.length < 2) throw audioDecodeError('the PCM data is empty');
  return { sampleRate: targetRate, samples: resample(s16leToFloat(data), sampleRate, targetRate) };
}

function contextFrom(options: DecodeOptions): DecodeContext {
  const rate = options.targetRate ?? DEFAULT_DECODE_RATE;
  if (!Number.isInteger(rate) || rate <= 0)
    throw new RangeError(`targetRate must be a positive integer: ${rate}`);
  return {
    rate,
    signal: options.signal,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxSeconds: options.maxSeconds ?? DEFAULT_MAX_SECONDS,
  };
}

async function decodeData(data: Uint8Array, context: DecodeContext): Promise<PcmAudio> {
  if (data.length === 0) throw audioDecodeError('the file is empty');
  rejectPlaylist(data);
  if (!isWav(data) || (data.length > IN_PROCESS_WAV_MAX_BYTES && (await ffmpegAvailable()))) {
    return decodeWithFfmpeg({ data }, context);
  }
  try {
    return decodeWavInProcess(data, context.rate);
  } catch (wavError) {
    // WAV encodings the parser does not handle (µ-law, ADPCM, …) and long WAVs may still be
    // ffmpeg's to decode; a header that lies (a rate out of bounds, no channels) is not.
    if (!isFfmpegsToDecode(wavError)) throw wavError;
    return decodeWithFfmpeg({ data }, context).catch(() => {
      throw wavError;
    });
  }
}

function isFfmpegsToDecode(error: unknown): boolean {
  return (
    error instanceof Error && /unsupported WAV encoding|too long to decode in process/.test(error.message)
  );
}

function decodeWavInProcess(data: Uint8Array, rate: number): PcmAudio {
  const reader = inProcessWavReader(data, rate);
  const mono = new Float32Array(reader.frameCount);
  reader.read(0, mono);
  return { sampleRate: rate, samples: resample(mono, reader.sampleRate, rate) };
}

/** The WAV's reader, unless the header is bad or the result too long to make here. */
function inProcessWavReader(data: Uint8Array, rate: number): WavMonoReader {
  const reader = wavMonoReader(data);
  if ((reader.frameCount * rate) / reader.sampleRate > IN_PROCESS_MAX_OUTPUT_SAMPLES) {
    throw audioDecodeError('the WAV is too long to decode in process');
  }
  return reader;
}

async function decodePath(path: string, context: DecodeContext): Promise<PcmAudio> {
  if ((await decoderFor(path)) === 'in-process') return decodeData(await readWhole(path), context);
  return decodeWithFfmpeg({ path }, context);
}

/**
 * Who decodes a file: small WAVs are parsed here, the rest is ffmpeg's. Refuses, from the
 * first bytes, an empty file, a playlist, and a WAV header that lies (a rate out of
 * bounds, no channels) before ffmpeg is started on it.
 */
export async function decoderFor(path: string): Promise<'in-process' | 'ffmpeg'> {
  const { head, size } = await readHead(path);
  if (size === 0) throw audioDecodeError('the file is empty');
  rejectPlaylist(head);
  if (!isWav(head)) return 'ffmpeg';
  if (size <= IN_PROCESS_WAV_MAX_BYTES || !(await ffmpegAvailable())) return 'in-process';
  assertWavHeader(head);
  return 'ffmpeg';
}

async function readHead(path: string): Promise<{ head: Uint8Array; size: number }> {
  try {
    const file = await open(path, 'r');
    try {
      const head = new Uint8Array(HEAD_BYTES);
      const { bytesRead } = await file.read(head, 0, HEAD_BYTES, 0);
      return { head: head.subarray(0, bytesRead), size: (await file.stat()).size };
    } finally {
      await file.close();
    }
  } catch (error) {
    throw audioDecodeError('the file could not be read', error);
  }
}

export async function readWhole(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    throw audioDecodeError('the file could not be read', error);
  }
}

/** An HLS playlist would make ffmpeg open whatever files or URLs it names. */
function rejectPlaylist(head: Uint8Array): void {
  if (Buffer.from(head.subarray(0, 7)).toString('latin1') === '#EXTM3U') {
    throw audioDecodeError('playlists are not accepted; upload the audio itself');
  }
}

async function decodeWithFfmpeg(source: FfmpegSource, context: DecodeContext): Promise<PcmAudio> {
  if ('data' in source && needsSeekableInput(source.data)) return decodeViaTempFile(source.data, context);
  try {
    const bytes = await runFfmpeg({
      args: decodeArgs(source, context.rate),
      ...('data' in source ? { stdin: source.data } : {}),
      signal: context.signal,
      timeoutMs: context.timeoutMs,
      maxOutputBytes: context.maxSeconds * context.rate * 4,
      redact: 'path' in source ? [`file:${source.path}`, source.path] : [],
    });
    return { sampleRate: context.rate, samples: new Float32Array(bytes.buffer, 0, bytes.byteLength >> 2) };
  } catch (error) {
    throw decodeFailure(error, context);
  }
}

/** Only the first audio track, as mono f32le, from the one input ffmpeg may open. */
export function decodeArgs(source: FfmpegSource, rate: number): string[] {
  const fromStdin = 'data' in source;
  return [
    ...(fromStdin ? [] : ['-nostdin']),
    ...restrictedInputArgs(fromStdin ? 'stdin' : { path: source.path }),
    ...['-map', '0:a:0', '-ac', '1', '-ar', String(rate), '-f', 'f32le', 'pipe:1'],
  ];
}

/** MP4/M4A/MOV often keep their index (moov) after the samples, which a pipe cannot seek back to. */
function needsSeekableInput(data: Uint8Array): boolean {
  const box = Buffer.from(data.subarray(4, 8)).toString('latin1');
  return ['ftyp', 'moov', 'mdat', 'wide', 'free', 'skip'].includes(box);
}

async function decodeViaTempFile(data: Uint8Array, context: DecodeContext): Promise<PcmAudio> {
  const dir = await mkdtemp(join(tmpdir(), 'voice-stack-decode-'));
  try {
    const path = join(dir, 'input');
    await writeFile(path, data, { mode: 0o600 });
    return await decodeWithFfmpeg({ path }, context);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function decodeFailure(error: unknown, context: { maxSeconds: number }): unknown {
  if (isVoiceStackError(error) || !(error instanceof FfmpegError)) return error;
  switch (error.failure) {
    case 'not-installed':
      return engineFailedError(
        'ffmpeg',
        'ffmpeg is not installed; it is needed to decode formats other than WAV',
      );
    case 'timeout':
      return audioDecodeError(`decoding ${error.detail}`);
    case 'output-limit':
      return audioDecodeError(longerThanLimit(context.maxSeconds));
    default:
      return audioDecodeError(explain(error.detail));
  }
}

export function longerThanLimit(maxSeconds: number): string {
  return `the audio is longer than the ${Math.round((maxSeconds / 3600) * 100) / 100}-hour limit (MAX_AUDIO_HOURS)`;
}

const NOT_AUDIO =
  'the data is not a recognised audio or video format, or it is corrupt (playlists and concat lists are refused)';

function explain(detail: string): string {
  // One answer for every refused demuxer, whatever the upload names: nothing tells
  // whether a file it points at exists.
  if (/not on (the )?(format )?whitelist/i.test(detail)) return NOT_AUDIO;
  if (/matches no streams|does not contain any stream/i.test(detail)) return 'the file has no audio track';
  if (/Invalid data found when processing input/i.test(detail)) return NOT_AUDIO;
  return `ffmpeg reported: ${detail.slice(0, 300)}`;
}
