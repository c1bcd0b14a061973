import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { WHISPER_MODELS } from '../../src/asr/model-catalog.js';
import type { ProgressStream } from '../../src/cli/download-progress.js';
import { registerModelsCommand } from '../../src/cli/models-command.js';
import { type CacheableModel, validateCacheFileName } from '../../src/core/models/model-cache.js';
import {
  KOKORO_MODELS,
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

  it('checks every model file by size and SHA-256: all Piper voices and both Kokoro models', () => {
    for (const model of [...PIPER_VOICES.map((v) => v.model), ...KOKORO_MODELS]) {
      assert.match(model.sha256 ?? '', /^[0-9a-f]{64}$/, `${model.name} has a SHA-256`);
      assert.ok((model.sizeBytes ?? 0) > 1_000_000, `${model.name} has a size`);
    }
    // Kokoro's URLs name a revision, so the bytes cannot change under the checksum.
    for (const entry of TTS_MODEL_ENTRIES.filter((e) => e.family === 'kokoro')) {
      assert.match(entry.url, /\/resolve\/[0-9a-f]{40}\//);
    }
  });

  it('every Piper voice carries its config as a companion, and a published MD5 where there is one', () => {
    for (const voice of PIPER_VOICES) {
      assert.deepEqual(voice.model.companions, [voice.config]);
      assert.equal(voice.model.md5, voice.md5);
      if (voice.md5 !== undefined) assert.match(voice.md5, /^[0-9a-f]{32}$/);
    }
  });

  it('`models pull` of a Piper voice fetches model and config, checking the MD5; `rm` removes both', async () => {
    const files: Record<string, Buffer> = {
      '/voice.onnx': Buffer.alloc(200_000, 7),
      '/voice.onnx.json': Buffer.from('{"audio":{"sample_rate":22050}}'),
    };
    const server = createServer((req, res) => {
      const body = files[req.url ?? ''];
      res.writeHead(body === undefined ? 404 : 200).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dir = await mkdtemp(join(tmpdir(), 'vs-pull-'));
    const md5 = (data: Buffer | undefined) =>
      createHash('md5')
        .update(data ?? Buffer.alloc(0))
        .digest('hex');
    const voice = (name: string, modelMd5: string): CacheableModel => ({
      family: 'piper',
      name,
      fileName: `${name}.onnx`,
      url: `${base}/voice.onnx`,
      md5: modelMd5,
      companions: [
        {
          family: 'piper',
          name: `${name}.json`,
          fileName: `${name}.onnx.json`,
          url: `${base}/voice.onnx.json`,
        },
      ],
    });
    let out = '';
    let err = '';
    const run = async (...args: string[]) => {
      const program = new Command().exitOverride();
      registerModelsCommand(program, () => dir, {
        entries: [
          voice('xx_XX-good-medium', md5(files['/voice.onnx'])),
          voice('xx_XX-bad-medium', '0'.repeat(32)),
        ],
        stdout: {
          write: (text: string) => {
            out += text;
          },
        },
        stderr: {
          write: (text: string) => {
            err += text;
          },
        },
      });
      await program.parseAsync(['node', 'voice-stack', 'models', ...args]);
    };
    try {
      await run('pull', 'xx_XX-good-medium');
      assert.deepEqual((await readdir(join(dir, 'piper'))).sort(), [
        'xx_XX-good-medium.onnx',
        'xx_XX-good-medium.onnx.json',
      ]);
      await run('pull', 'xx_XX-bad-medium');
      assert.equal(process.exitCode, 1);
      process.exitCode = 0;
      assert.match(err, /MD5 is [0-9a-f]{32}, expected 0{32}/);
      assert.ok(!(await readdir(join(dir, 'piper'))).some((n) => n.startsWith('xx_XX-bad')), 'nothing kept');
      await run('rm', 'xx_XX-good-medium');
      assert.deepEqual(await readdir(join(dir, 'piper')), []);
      assert.match(out, /Removed .*xx_XX-good-medium\.onnx\n.*Removed .*xx_XX-good-medium\.onnx\.json/s);
    } finally {
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
