import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSileroVadModel, generateWhisperModel } from '../../tools/gen-whisper-model.js';

/** A per-run folder for generated models and audio, shared by the suites of one run. */
export const FIXTURE_DIR = join(tmpdir(), `voice-stack-fixtures-${process.env.USER ?? 'user'}`);

/** A whisper.cpp model with random weights and tiny dimensions: the real binding loads and runs it. */
export async function testWhisperModel(): Promise<string> {
  mkdirSync(FIXTURE_DIR, { recursive: true });
  const path = join(FIXTURE_DIR, 'ggml-test-random.bin');
  if (!existsSync(path)) await generateWhisperModel({ preset: 'test', outPath: path, seed: 7 });
  return path;
}

/**
 * A Silero VAD model whose chosen weights call a 32 ms window speech when its 150 Hz–4 kHz energy
 * passes a threshold (SPEECH_BAND_VAD in tools/gen-whisper-model.ts): espeak-ng speech at −30 dBFS
 * and louder is speech; silence, −50 dBFS noise and a loud 7 kHz tone are not. The version in the
 * name changes with the recipe, so a cached file from an older one is never picked up.
 */
export async function speechBandVadModel(): Promise<string> {
  mkdirSync(FIXTURE_DIR, { recursive: true });
  const path = join(FIXTURE_DIR, 'ggml-silero-speech-band-v2.bin');
  if (!existsSync(path)) {
    // Written aside and renamed, so a run cut short never leaves a half file under the cached name.
    const partial = `${path}.${process.pid}.partial`;
    await generateSileroVadModel({ outPath: partial, detector: 'speech-band' });
    renameSync(partial, path);
  }
  return path;
}

/** Real speech from espeak-ng, as a 16-bit WAV at 22.05 kHz. */
export function speechWav(text: string, name: string): string {
  mkdirSync(FIXTURE_DIR, { recursive: true });
  const path = join(FIXTURE_DIR, `${name}.wav`);
  if (!existsSync(path)) execFileSync('espeak-ng', ['-w', path, '-v', 'en-us', text]);
  return path;
}

/** Converts a file with ffmpeg (the container follows the extension). */
export function convertAudio(input: string, name: string, extraArgs: string[] = []): string {
  const path = join(FIXTURE_DIR, name);
  if (!existsSync(path)) execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', input, ...extraArgs, path]);
  return path;
}

/** The test sentence looped to `seconds` of 16 kHz mono WAV: speech-like audio of any length. */
export function loopedSpeechWav(seconds: number): string {
  const path = join(FIXTURE_DIR, `speech-loop-${seconds}s.wav`);
  if (!existsSync(path)) {
    const sentence = speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech');
    const loop = ['-v', 'error', '-y', '-stream_loop', '-1', '-i', sentence, '-t', String(seconds)];
    execFileSync('ffmpeg', [...loop, '-ar', '16000', '-ac', '1', path]);
  }
  return path;
}
