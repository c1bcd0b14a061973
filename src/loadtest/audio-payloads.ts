import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { readWavInfo, withExactWavSizes } from '../audio/wav.js';
import { runProcess } from '../core/run-process.js';
import type { AudioPayload } from './asr-target.js';

/** About eight seconds of speech: long enough to be real work for an ASR model. */
const DEFAULT_SPEECH_TEXT =
  'This is the voice stack load test. The quick brown fox jumps over the lazy dog, ' +
  'and the server transcribes every word of it while other requests wait their turn.';

const CONTENT_TYPES: Record<string, string> = {
  '.wav': 'audio/wav',
  '.mp3': 'audio/mpeg',
  '.flac': 'audio/flac',
  '.ogg': 'audio/ogg',
  '.opus': 'audio/ogg',
  '.m4a': 'audio/mp4',
  '.webm': 'audio/webm',
};

/** Loads the user's `--audio` files as they are; WAV durations are read from the header. */
export async function loadAudioFiles(paths: readonly string[]): Promise<AudioPayload[]> {
  return Promise.all(
    paths.map(async (path) => {
      const data = await readFile(path);
      return {
        fileName: basename(path),
        contentType: CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream',
        data,
        durationSeconds: readWavInfo(data)?.durationSeconds,
      };
    }),
  );
}

/**
 * Real speech synthesised once with espeak-ng and cached, so ASR does real work
 * instead of transcribing silence. The fallback synthesises through the TTS service.
 */
export async function defaultSpeechPayload(
  cacheDir: string,
  synthesiseViaTts?: (text: string) => Promise<Buffer>,
): Promise<AudioPayload> {
  const path = join(cacheDir, 'load-test-speech.wav');
  const cached = await readFile(path).catch(() => undefined);
  const data = cached ?? (await synthesiseAndCache(path, cacheDir, synthesiseViaTts));
  return {
    fileName: 'speech.wav',
    contentType: 'audio/wav',
    data,
    durationSeconds: readWavInfo(data)?.durationSeconds,
  };
}

async function synthesiseAndCache(
  path: string,
  cacheDir: string,
  synthesiseViaTts: ((text: string) => Promise<Buffer>) | undefined,
): Promise<Buffer> {
  const raw = await espeakSpeech(DEFAULT_SPEECH_TEXT).catch(async (error: unknown) => {
    if (!synthesiseViaTts)
      throw new Error(`espeak-ng could not synthesise the default speech: ${String(error)}`);
    return synthesiseViaTts(DEFAULT_SPEECH_TEXT);
  });
  const wav = withExactWavSizes(raw);
  if (!readWavInfo(wav)) throw new Error('the synthesised default speech is not a WAV file');
  await mkdir(cacheDir, { recursive: true });
  // Written aside and renamed so a concurrent run never reads half a file.
  const partial = `${path}.${process.pid}.partial`;
  await writeFile(partial, wav);
  await rename(partial, path);
  return wav;
}

async function espeakSpeech(text: string): Promise<Buffer> {
  const { stdout } = await runProcess('espeak-ng', ['--stdout', '-s', '150', text], { timeoutMs: 60_000 });
  return stdout;
}
