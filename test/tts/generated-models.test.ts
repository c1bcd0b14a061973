/**
 * The generated models have the interface of the real ones: the names, types and
 * ranks onnxruntime reports, the Piper `.onnx.json` fields, and outputs whose
 * length follows the input length and the speed controls as the real models' do.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { KOKORO_VOICE_BYTES } from '../../src/tts/voice-catalog.js';
import { generateKokoroModel, generatePiperVoice } from '../../tools/gen-tts-models.js';

const dir = mkdtempSync(join(tmpdir(), 'vs-gen-tts-'));

function ids(count: number): InstanceType<typeof ort.Tensor> {
  return new ort.Tensor(
    'int64',
    BigInt64Array.from({ length: count }, (_, i) => BigInt(1 + (i % 40))),
    [1, count],
  );
}

describe('generated TTS models', () => {
  it('a Piper voice: input, input_lengths, scales → output [1,1,1,time], time ∝ ids × length_scale', async () => {
    const path = await generatePiperVoice({ outDir: dir, name: 'en_US-gen-medium' });
    const session = await ort.InferenceSession.create(path);
    assert.deepEqual(session.inputNames, ['input', 'input_lengths', 'scales']);
    assert.deepEqual(session.outputNames, ['output']);
    const run = async (count: number, lengthScale: number) => {
      const { output } = await session.run({
        input: ids(count),
        input_lengths: new ort.Tensor('int64', BigInt64Array.from([BigInt(count)]), [1]),
        scales: new ort.Tensor('float32', Float32Array.from([0.667, lengthScale, 0.8]), [3]),
      });
      assert.ok(output);
      return output.dims;
    };
    const base = await run(20, 1);
    assert.equal(base.length, 4);
    assert.deepEqual(base.slice(0, 3), [1, 1, 1]);
    assert.equal((await run(40, 1))[3], (base[3] as number) * 2);
    assert.equal((await run(20, 0.5))[3], (base[3] as number) / 2);
    const config = JSON.parse(readFileSync(`${path}.json`, 'utf8'));
    assert.equal(config.audio.sample_rate, 22050);
    assert.equal(config.espeak.voice, 'en-us');
    assert.deepEqual(Object.keys(config.inference), ['noise_scale', 'length_scale', 'noise_w']);
    assert.deepEqual(
      [config.phoneme_id_map._, config.phoneme_id_map['^'], config.phoneme_id_map.$],
      [[0], [1], [2]],
    );
    assert.equal(config.phoneme_type, 'espeak');
    await session.release();
  });

  it('Kokoro: input_ids, style [1,256], speed → waveform, length ∝ tokens ÷ speed; voices are 510×256 floats', async () => {
    const path = await generateKokoroModel({ outDir: dir, voices: ['af_heart'] });
    assert.equal(statSync(join(dir, 'kokoro-v1.0-af_heart.bin')).size, KOKORO_VOICE_BYTES);
    const session = await ort.InferenceSession.create(path);
    assert.deepEqual(session.inputNames, ['input_ids', 'style', 'speed']);
    assert.deepEqual(session.outputNames, ['waveform']);
    const run = async (count: number, speed: number) => {
      const { waveform } = await session.run({
        input_ids: ids(count),
        style: new ort.Tensor('float32', new Float32Array(256).fill(0.1), [1, 256]),
        speed: new ort.Tensor('float32', Float32Array.from([speed]), [1]),
      });
      assert.ok(waveform);
      return waveform.dims[1] as number;
    };
    const base = await run(20, 1);
    assert.equal(await run(40, 1), base * 2);
    assert.equal(await run(20, 2), base / 2);
    await session.release();
  });
});
