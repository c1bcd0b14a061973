/**
 * A model that cannot be loaded is a 503 naming it and the cause, and the server
 * lives on: a corrupt file, or a device whose runtime provider is not installed.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { http } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';
import { piperTestEnv } from '../support/tts-models.js';

interface ErrorBody {
  error: { message: string; code: string };
}

async function speakOnce(
  env: Record<string, string>,
): Promise<{ status: number; message: string; healthy: boolean }> {
  const server = await ServiceProcess.start(['serve', 'tts'], env);
  try {
    const base = server.url('tts');
    const response = await http(`${base}/v1/audio/speech`, {
      json: { input: 'Hello.', response_format: 'wav' },
    });
    const health = await http(`${base}/health`);
    return {
      status: response.status,
      message: response.json<ErrorBody>().error.message,
      healthy: health.status === 200,
    };
  } finally {
    await server.stop();
  }
}

describe('TTS model load failures', () => {
  it('a corrupt Piper model is a 503 naming the voice, and the server keeps serving', async () => {
    const good = await piperTestEnv();
    const dir = mkdtempSync(join(tmpdir(), 'vs-corrupt-'));
    const model = join(dir, 'en_US-broken-medium.onnx');
    writeFileSync(model, Buffer.from('this is not an onnx model'.repeat(100)));
    copyFileSync(`${good.TTS_MODEL}.json`, `${model}.json`);
    const result = await speakOnce({ ...good, TTS_MODEL: model });
    assert.equal(result.status, 503);
    assert.match(result.message, /^Model 'en_US-broken-medium' is unavailable: /);
    assert.ok(result.healthy, 'the process is still alive and healthy');
  });

  it('TTS_DEVICE=cuda without the CUDA provider is a 503 that says how to install it or use the CPU', async () => {
    const result = await speakOnce({ ...(await piperTestEnv()), TTS_DEVICE: 'cuda' });
    assert.equal(result.status, 503);
    assert.match(result.message, /ONNXRUNTIME_NODE_INSTALL=cuda12.*TTS_DEVICE=cpu/);
    assert.ok(result.healthy);
  });
});
