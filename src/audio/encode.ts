/**
 * PCM → the response formats of the OpenAI speech API. WAV and raw PCM are written in
 * process; compressed formats and tempo changes are ffmpeg's job.
 */
import { engineFailedError, invalidParameterError } from '../core/errors.js';
import { FfmpegError, runFfmpeg } from './ffmpeg.js';
import type { PcmAudio } from './pcm-audio.js';
import { encodeWav, floatToS16le } from './wav.js';

export const AUDIO_FORMATS = ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm'] as const;
export type AudioFormat = (typeof AUDIO_FORMATS)[number];

export interface EncodeOptions {
  /** Speed factor that keeps the pitch: 1 leaves the audio as it is; 0.25 to 4. */
  tempo?: number;
  signal?: AbortSignal;
  timeoutMs?: number;
}

const CONTENT_TYPES: Record<AudioFormat, string> = {
  mp3: 'audio/mpeg',
  opus: 'audio/ogg; codecs=opus',
  aac: 'audio/aac',
  flac: 'audio/flac',
  wav: 'audio/wav',
  pcm: 'audio/pcm',
};

const MIN_TEMPO = 0.25;
const MAX_TEMPO = 4;
const DEFAULT_TIMEOUT_MS = 2 * 60_000;
const MP3_RATES = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];
const AAC_RATES = [7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000];

export function contentTypeFor(format: AudioFormat): string {
  return CONTENT_TYPES[format];
}

export function isAudioFormat(value: string): value is AudioFormat {
  return (AUDIO_FORMATS as readonly string[]).includes(value);
}

export async function encodeAudio(
  audio: PcmAudio,
  format: AudioFormat,
  options: EncodeOptions = {},
): Promise<Buffer> {
  const tempo = options.tempo ?? 1;
  if (!Number.isFinite(tempo) || tempo < MIN_TEMPO || tempo > MAX_TEMPO) {
    throw invalidParameterError('speed', `must be between ${MIN_TEMPO} and ${MAX_TEMPO}`);
  }
  if (format === 'wav' || format === 'pcm') {
    const paced = tempo === 1 ? audio : await changeTempo(audio, tempo, options);
    return format === 'wav' ? encodeWav(paced) : floatToS16le(paced.samples);
  }
  if (format === 'flac') return encodeFlac(audio, tempo, options);
  const output = await ffmpegEncode(
    audio,
    [...tempoArgs(tempo), ...codecArgs(format, audio.sampleRate)],
    options,
  );
  return Buffer.from(output.buffer, output.byteOffset, output.byteLength);
}

/**
 * ffmpeg writing FLAC to a pipe cannot seek back to fill in STREAMINFO, so players
 * would show a duration of 0. The tempo change comes first, so the sample count of
 * what is encoded is known here, and is written into the header afterwards.
 */
async function encodeFlac(audio: PcmAudio, tempo: number, options: EncodeOptions): Promise<Buffer> {
  const paced = tempo === 1 ? audio : await changeTempo(audio, tempo, options);
  const output = await ffmpegEncode(paced, codecArgs('flac', paced.sampleRate), options);
  const flac = Buffer.from(output.buffer, output.byteOffset, output.byteLength);
  setFlacTotalSamples(flac, paced.samples.length);
  return flac;
}

/** FLAC's STREAMINFO starts after `fLaC` and a 4-byte block header; total samples is 36 bits at its byte 13. */
const STREAMINFO_TOTAL_SAMPLES_OFFSET = 4 + 4 + 13;
const MAX_FLAC_TOTAL_SAMPLES = 2 ** 36 - 1;

/** Writes the total sample count into a FLAC stream's STREAMINFO block, in place. */
export function setFlacTotalSamples(flac: Buffer, totalSamples: number): void {
  const isStreamInfo = flac.toString('latin1', 0, 4) === 'fLaC' && ((flac[4] ?? 0xff) & 0x7f) === 0;
  if (!isStreamInfo || flac.length < STREAMINFO_TOTAL_SAMPLES_OFFSET + 5) {
    throw new Error('not a FLAC stream that starts with STREAMINFO');
  }
  if (!Number.isInteger(totalSamples) || totalSamples < 0 || totalSamples > MAX_FLAC_TOTAL_SAMPLES) {
    throw new RangeError(`FLAC total samples out of range: ${totalSamples}`);
  }
  const at = STREAMINFO_TOTAL_SAMPLES_OFFSET;
  const high = Math.floor(totalSamples / 2 ** 32);
  // The byte shares its upper nibble with the bits-per-sample field.
  flac[at] = ((flac[at] ?? 0) & 0xf0) | high;
  flac.writeUInt32BE(totalSamples % 2 ** 32, at + 1);
}

/** Tempo only, back to float PCM, so WAV/PCM headers and scaling stay ours. */
async function changeTempo(audio: PcmAudio, tempo: number, options: EncodeOptions): Promise<PcmAudio> {
  const output = await ffmpegEncode(audio, [...tempoArgs(tempo), '-f', 'f32le'], options);
  return {
    sampleRate: audio.sampleRate,
    samples: new Float32Array(output.buffer, 0, output.byteLength >> 2),
  };
}

async function ffmpegEncode(
  audio: PcmAudio,
  outputArgs: string[],
  options: EncodeOptions,
): Promise<Uint8Array> {
  const { samples } = audio;
  const args = [
    '-f',
    'f32le',
    '-ar',
    String(audio.sampleRate),
    '-ac',
    '1',
    '-i',
    'pipe:0',
    ...outputArgs,
    'pipe:1',
  ];
  try {
    return await runFfmpeg({
      args,
      stdin: new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength),
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
  } catch (error) {
    if (!(error instanceof FfmpegError)) throw error;
    throw engineFailedError('ffmpeg', `encoding failed: ${error.detail}`, error);
  }
}

/** The one codec table, for whole files and streams: ffmpeg output arguments per format. */
export function codecArgs(format: AudioFormat, sampleRate: number): string[] {
  switch (format) {
    case 'wav':
      return ['-c:a', 'pcm_s16le', '-f', 'wav'];
    case 'pcm':
      return ['-c:a', 'pcm_s16le', '-f', 's16le'];
    case 'mp3':
      return [
        '-c:a',
        'libmp3lame',
        '-b:a',
        '128k',
        '-ar',
        String(supportedRate(sampleRate, MP3_RATES)),
        '-f',
        'mp3',
      ];
    case 'opus':
      // Opus runs internally at 48 kHz; giving it exactly that avoids libopus refusing odd rates.
      return ['-c:a', 'libopus', '-b:a', '64k', '-ar', '48000', '-f', 'ogg'];
    case 'aac':
      return [
        '-c:a',
        'aac',
        '-b:a',
        '128k',
        '-ar',
        String(supportedRate(sampleRate, AAC_RATES)),
        '-f',
        'adts',
      ];
    case 'flac':
      return ['-c:a', 'flac', '-f', 'flac'];
  }
}

/** The lowest rate the codec supports that loses nothing, or its highest. */
function supportedRate(rate: number, rates: readonly number[]): number {
  return rates.find((candidate) => candidate >= rate) ?? (rates[rates.length - 1] as number);
}

export function tempoArgs(tempo: number): string[] {
  return tempo === 1 ? [] : ['-af', atempoChain(tempo)];
}

/** atempo is only exact within 0.5–2, so larger changes are made as a chain of steps. */
export function atempoChain(tempo: number): string {
  // A non-finite or non-positive tempo would never leave the loops below.
  if (!Number.isFinite(tempo) || tempo <= 0)
    throw new RangeError(`tempo must be a positive number: ${tempo}`);
  const steps: number[] = [];
  let rest = tempo;
  while (rest > 2) {
    steps.push(2);
    rest /= 2;
  }
  while (rest < 0.5) {
    steps.push(0.5);
    rest /= 0.5;
  }
  steps.push(rest);
  return steps.map((step) => `atempo=${step}`).join(',');
}
