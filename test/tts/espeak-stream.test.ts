/**
 * espeak-ng's whole-text path on the real binary: one process for every sentence,
 * its WAV passed on while it is written, and stopped when the caller stops.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { EspeakNgEngine } from '../../src/tts/engines/espeak-ng.js';
import type { SynthesisResult } from '../../src/tts/engines/tts-engine.js';

const TEXT =
  'The quick brown fox jumps over the lazy dog. Voice Stack speaks through espeak. ' +
  'A third sentence makes the recording long enough to arrive in several pieces.';

/** espeak-ng processes that are children of this test process. */
function espeakChildren(): number {
  try {
    return execFileSync('pgrep', ['-P', String(process.pid), 'espeak-ng'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean).length;
  } catch {
    return 0; // pgrep exits 1 when nothing matches
  }
}

async function loaded(): Promise<EspeakNgEngine> {
  const engine = new EspeakNgEngine();
  await engine.load();
  return engine;
}

describe('espeak-ng synthesizeText (real espeak-ng)', () => {
  it('streams the same audio as one synthesize call, in pieces cut in silences', async () => {
    const engine = await loaded();
    const request = { text: TEXT, voice: engine.voices.defaultVoice(), speed: 1 };
    const signal = new AbortController().signal;
    const pieces: SynthesisResult[] = [];
    for await (const piece of engine.synthesizeText(request, signal)) pieces.push(piece);
    const whole = await engine.synthesize(request, signal);
    assert.ok(pieces.length > 1, `expected several pieces, got ${pieces.length}`);
    const total = pieces.reduce((n, piece) => n + piece.audio.samples.length, 0);
    assert.equal(total, whole.audio.samples.length);
    const joined = new Float32Array(total);
    let offset = 0;
    for (const piece of pieces) {
      assert.equal(piece.audio.sampleRate, whole.audio.sampleRate);
      joined.set(piece.audio.samples, offset);
      offset += piece.audio.samples.length;
    }
    assert.deepEqual(joined, whole.audio.samples);
    // Every cut but the last falls in a silence, so no piece starts inside a sound.
    for (const piece of pieces.slice(1)) assert.equal(piece.audio.samples[0], 0);
  });

  it('applies the speed as a rate and leaves the rest as residual speed', async () => {
    const engine = await loaded();
    const signal = new AbortController().signal;
    const residuals = new Set<number>();
    for await (const piece of engine.synthesizeText({ text: 'Fast.', voice: 'en-us', speed: 4 }, signal)) {
      residuals.add(piece.residualSpeed);
    }
    assert.deepEqual([...residuals], [(175 * 4) / 450]);
  });

  it('kills the process when the caller stops reading or aborts', async () => {
    const engine = await loaded();
    const long = TEXT.repeat(40);
    const request = { text: long, voice: engine.voices.defaultVoice(), speed: 1 };
    for await (const _piece of engine.synthesizeText(request, new AbortController().signal)) break;
    const controller = new AbortController();
    const aborted = (async () => {
      for await (const _piece of engine.synthesizeText(request, controller.signal)) controller.abort();
    })();
    await assert.rejects(aborted, /closed the request/);
    // SIGKILL is delivered at once; give the kernel a moment to reap.
    for (let i = 0; i < 50 && espeakChildren() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(espeakChildren(), 0);
  });
});
