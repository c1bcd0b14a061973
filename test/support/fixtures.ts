import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateWhisperModel } from '../../tools/gen-whisper-model.js';

/** A per-run folder for generated models and audio, shared by the suites of one run. */
export const FIXTURE_DIR = join(tmpdir(), `voice-stack-fixtures-${process.env.USER ?? 'user'}`);

/** A whisper.cpp model with random weights and tiny dimensions: the real binding loads and runs it. */
export async function testWhisperModel(): Promise<string> {
  mkdirSync(FIXTURE_DIR, { recursive: true });
  const path = join(FIXTURE_DIR, 'ggml-test-random.bin');
  if (!existsSync(path)) await generateWhisperModel({ preset: 'test', outPath: path, seed: 7 });
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
