import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { WHISPER_MODELS } from '../../src/asr/model-catalog.js';
import { registerModelsCommand } from '../../src/cli/models-command.js';
import type { ProgressStream } from '../../src/cli/progress.js';
import { validateCacheFileName } from '../../src/core/model-cache.js';
import {
  KOKORO_VOICE_BYTES,
  KOKORO_VOICES,
  PIPER_VOICES,
  TTS_MODEL_ENTRIES,
} from '../../src/tts/voice-catalog.js';

describe('TTS voice catalog', () => {
  it('has Piper voices in English, German, French, Spanish, Portuguese and Italian at several qualities', () => {
    const languages = new Set(PIPER_VOICES.map((v) => v.id.slice(0, 2)));
    for (const language of ['en', 'de', 'fr', 'es', 'pt', 'it']) assert.ok(languages.has(language), language);
    const qualities = new Set(PIPER_VOICES.map((v) => v.quality));
    for (const quality of ['low', 'medium', 'high']) assert.ok(qualities.has(quality as never), quality);
    assert.equal(KOKORO_VOICES.length, 54);
  });

  it('gives every file a unique name, a safe cache file name, an https URL and well-formed figures', () => {
    const names = TTS_MODEL_ENTRIES.map((e) => e.name);
    assert.equal(new Set(names).size, names.length, 'unique names');
    const whisper = new Set(WHISPER_MODELS.map((m) => m.name));
    assert.ok(
      names.every((n) => !whisper.has(n)),
      'no clash with whisper names',
    );
    for (const entry of TTS_MODEL_ENTRIES) {
      validateCacheFileName(entry.fileName);
      assert.match(entry.url, /^https:\/\/huggingface\.co\//);
      if (entry.sha256 !== undefined) assert.match(entry.sha256, /^[0-9a-f]{64}$/);
      if (entry.sizeBytes !== undefined)
        assert.ok(Number.isInteger(entry.sizeBytes) && entry.sizeBytes > 1000);
    }
    for (const voice of KOKORO_VOICES) assert.equal(voice.file.sizeBytes, KOKORO_VOICE_BYTES);
    const tugao = PIPER_VOICES.find((v) => v.id.startsWith('pt_PT'));
    assert.equal(tugao?.model.fileName, 'pt_PT-tugao-medium.onnx');
    assert.match(tugao?.model.url ?? '', /tug%C3%A3o\/medium\/pt_PT-tug%C3%A3o-medium\.onnx$/);
  });

  it('plugs into `voice-stack models list`', async () => {
    let out = '';
    const stdout: ProgressStream = {
      write: (text: string) => {
        out += text;
      },
    };
    const program = new Command().exitOverride();
    registerModelsCommand(program, () => '/nonexistent/voice-stack-cache', {
      entries: TTS_MODEL_ENTRIES,
      stdout,
    });
    await program.parseAsync(['node', 'voice-stack', 'models', 'list']);
    assert.match(out, /piper models:\n/);
    assert.match(out, /en_US-lessac-medium\s+63\.2 MB/);
    assert.match(out, /kokoro models:\n/);
    assert.match(out, /kokoro-af_heart/);
  });
});
