import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKokoroModel, generatePiperVoice, type TtsModelPreset } from '../../tools/gen-tts-models.js';

/** Generated once per machine and reused: the generator is deterministic. */
const FIXTURE_DIR = join(tmpdir(), `voice-stack-tts-fixtures-${process.env.USER ?? 'user'}`);

/** Settings that run `serve tts` on a generated Piper voice, with an empty model cache beside it. */
export async function piperTestEnv(preset: TtsModelPreset = 'test'): Promise<Record<string, string>> {
  const dir = join(FIXTURE_DIR, `piper-${preset}-v1`);
  const model = join(dir, 'en_US-test-medium.onnx');
  if (!existsSync(`${model}.json`))
    await generatePiperVoice({ outDir: dir, preset, name: 'en_US-test-medium' });
  mkdirSync(join(dir, 'cache'), { recursive: true });
  return { TTS_ENGINE: 'piper', TTS_MODEL: model, MODEL_CACHE_DIR: join(dir, 'cache') };
}

/**
 * Settings that run `serve tts` on a generated Kokoro model whose voice files lie in
 * the model cache under their catalog names, as `models pull` leaves them.
 */
export async function kokoroTestEnv(preset: TtsModelPreset = 'test'): Promise<Record<string, string>> {
  const dir = join(FIXTURE_DIR, `kokoro-${preset}-v1`);
  const cache = join(dir, 'cache');
  const model = join(dir, 'kokoro-test.onnx');
  if (!existsSync(model)) {
    await generateKokoroModel({ outDir: join(cache, 'kokoro'), preset, voices: ['af_heart', 'bf_emma'] });
    await generateKokoroModel({ outDir: dir, preset, voices: [], modelFileName: 'kokoro-test.onnx' });
  }
  return { TTS_ENGINE: 'kokoro', TTS_MODEL: model, MODEL_CACHE_DIR: cache };
}
