import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import {
  findWhisperModel,
  resolveWhisperModel,
  WHISPER_BASE_MODELS,
  WHISPER_MODELS,
  type WhisperModelResolution,
} from '../../src/asr/model-catalog.js';

function chosen(resolution: WhisperModelResolution): string {
  assert.equal(resolution.kind, 'catalog');
  return resolution.kind === 'catalog' ? resolution.entry.name : '';
}

describe('WHISPER_MODELS', () => {
  it('has well-formed entries', () => {
    for (const entry of WHISPER_MODELS) {
      assert.equal(entry.family, 'whisper');
      assert.equal(entry.fileName, `ggml-${entry.name}.bin`);
      assert.equal(entry.url, `https://huggingface.co/ggerganov/whisper.cpp/resolve/main/${entry.fileName}`);
      assert.ok(new URL(entry.url).protocol === 'https:', entry.name);
      assert.ok(Number.isSafeInteger(entry.sizeBytes) && entry.sizeBytes > 1_000_000, entry.name);
      assert.match(entry.sha256, /^[0-9a-f]{64}$/, entry.name);
      if (entry.sha1 !== undefined) assert.match(entry.sha1, /^[0-9a-f]{40}$/, entry.name);
    }
  });

  it('has unique names, files and digests', () => {
    for (const key of ['name', 'fileName', 'sha256'] as const) {
      assert.equal(new Set(WHISPER_MODELS.map((entry) => entry[key])).size, WHISPER_MODELS.length, key);
    }
  });

  it('offers every model ASR_MODEL documents, with quantised variants of the small ones', () => {
    const documented = ['tiny', 'base', 'small', 'medium', 'large-v3', 'large-v3-turbo'];
    const english = ['tiny.en', 'base.en', 'small.en', 'medium.en'];
    assert.deepEqual([...WHISPER_BASE_MODELS].sort(), [...documented, ...english].sort());
    for (const name of ['tiny', 'tiny.en', 'base', 'base.en', 'small', 'small.en']) {
      assert.ok(findWhisperModel(`${name}-q5_1`), `${name}-q5_1`);
      assert.ok(findWhisperModel(`${name}-q8_0`), `${name}-q8_0`);
    }
  });

  it('orders sizes sensibly: quantised files are smaller than their f16 file', () => {
    for (const entry of WHISPER_MODELS.filter((e) => e.quantization !== 'f16')) {
      const full = findWhisperModel(entry.base);
      assert.ok(full && entry.sizeBytes < full.sizeBytes, entry.name);
    }
  });
});

describe('resolveWhisperModel', () => {
  it('maps compute types to the nearest file variant', () => {
    assert.equal(chosen(resolveWhisperModel('base', 'default')), 'base');
    assert.equal(chosen(resolveWhisperModel('base', 'float16')), 'base');
    assert.equal(chosen(resolveWhisperModel('base', 'int8')), 'base-q8_0');
    assert.equal(chosen(resolveWhisperModel('base', 'int8_float16')), 'base-q8_0');
    assert.equal(chosen(resolveWhisperModel('base.en', 'int8')), 'base.en-q8_0');
    assert.equal(chosen(resolveWhisperModel('small', 'int5')), 'small-q5_1');
    assert.equal(chosen(resolveWhisperModel('tiny.en', 'q5')), 'tiny.en-q5_1');
    assert.equal(chosen(resolveWhisperModel('large-v3-turbo', 'int8')), 'large-v3-turbo-q8_0');
  });

  it('falls back to q5_0 where no q5_1 file is published', () => {
    assert.equal(chosen(resolveWhisperModel('medium', 'int5')), 'medium-q5_0');
    assert.equal(chosen(resolveWhisperModel('large-v3', 'q5')), 'large-v3-q5_0');
  });

  it('uses the f16 file for float32 and says why', () => {
    const resolution = resolveWhisperModel('base', 'float32');
    assert.equal(chosen(resolution), 'base');
    assert.ok(resolution.kind === 'catalog');
    assert.match(resolution.reason, /no f32 file is published/);
    assert.match(resolution.reason, /ggml-base\.bin/);
  });

  it('says so when the wanted variant does not exist for the model', () => {
    const resolution = resolveWhisperModel('large-v3', 'int8');
    assert.equal(chosen(resolution), 'large-v3');
    assert.ok(resolution.kind === 'catalog');
    assert.match(resolution.reason, /no 8-bit \(q8_0\) file is published for large-v3/);
  });

  it('names the chosen file and the settings in the reason', () => {
    const resolution = resolveWhisperModel('small', 'int8');
    assert.ok(resolution.kind === 'catalog');
    assert.match(resolution.reason, /ASR_MODEL=small/);
    assert.match(resolution.reason, /ASR_COMPUTE_TYPE=int8/);
    assert.match(resolution.reason, /ggml-small-q8_0\.bin/);
  });

  it('keeps an explicitly named variant and notes that the compute type is ignored', () => {
    const resolution = resolveWhisperModel('small-q5_1', 'float16');
    assert.equal(chosen(resolution), 'small-q5_1');
    assert.ok(resolution.kind === 'catalog');
    assert.match(resolution.reason, /ignored/);
    assert.doesNotMatch(
      (resolveWhisperModel('small-q5_1', 'default') as { reason: string }).reason,
      /ignored/,
    );
  });

  it('matches catalog names case-insensitively', () => {
    assert.equal(chosen(resolveWhisperModel(' BASE.EN ', 'default')), 'base.en');
  });

  it('treats anything path-like as a model file path', () => {
    assert.deepEqual(resolveWhisperModel('/models/ggml-custom.bin', 'int8'), {
      kind: 'path',
      path: '/models/ggml-custom.bin',
    });
    assert.deepEqual(resolveWhisperModel('./m/x.bin', 'default'), { kind: 'path', path: resolve('m/x.bin') });
    assert.deepEqual(resolveWhisperModel('~/m.bin', 'default'), {
      kind: 'path',
      path: join(homedir(), 'm.bin'),
    });
    assert.deepEqual(resolveWhisperModel('custom.bin', 'default'), {
      kind: 'path',
      path: resolve('custom.bin'),
    });
  });

  it('rejects an unknown name with the valid choices in the message', () => {
    assert.throws(
      () => resolveWhisperModel('huge', 'default'),
      (error: unknown) => {
        assert.equal((error as { code?: string }).code, 'VS_ERR_INVALID_PARAMETER');
        assert.match((error as Error).message, /ASR_MODEL.*huge.*large-v3-turbo/s);
        return true;
      },
    );
  });
});
