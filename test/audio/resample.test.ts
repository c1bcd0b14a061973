import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resample, resampleInSlices } from '../../src/audio/resample.js';
import { decibels, dominantFrequency, sine, toneAmplitude } from './signals.js';

describe('resample', () => {
  it('returns the input unchanged when the rates are equal', () => {
    const input = sine(440, 16000, 0.1);
    assert.equal(resample(input, 16000, 16000), input);
  });

  for (const fromRate of [44100, 8000, 48000, 22050]) {
    it(`keeps a 1 kHz sine's frequency and amplitude from ${fromRate} Hz to 16 kHz`, () => {
      const output = resample(sine(1000, fromRate, 1, 0.5), fromRate, 16000);
      assert.equal(output.length, 16000);
      assert.equal(dominantFrequency(output, 16000), 1000);
      const amplitude = toneAmplitude(output, 16000, 1000);
      assert.ok(Math.abs(decibels(amplitude / 0.5)) < 0.1, `amplitude ${amplitude}`);
    });
  }

  for (const frequency of [7900, 8500, 12000, 20000]) {
    it(`attenuates a ${frequency / 1000} kHz tone by more than 40 dB going 48k → 16k`, () => {
      const output = resample(sine(frequency, 48000, 1, 0.5), 48000, 16000);
      const aliased = frequency > 8000 ? 16000 - frequency : frequency;
      const level = decibels(peak(output.subarray(200, -200)) / 0.5);
      assert.ok(level < -40, `${frequency} Hz (seen at ${aliased} Hz) only down ${level.toFixed(1)} dB`);
    });
  }

  it('keeps speech-band content flat (6 kHz within 0.5 dB) going 48k → 16k', () => {
    const output = resample(sine(6000, 48000, 1, 0.5), 48000, 16000);
    assert.ok(Math.abs(decibels(toneAmplitude(output, 16000, 6000) / 0.5)) < 0.5);
  });

  it('keeps a constant signal constant (unit gain at DC) away from the edges', () => {
    const output = resample(new Float32Array(44100).fill(0.25), 44100, 16000);
    for (const value of output.subarray(100, -100)) assert.ok(Math.abs(value - 0.25) < 1e-5);
  });

  it('upsamples 16k → 44.1k and 22.05k → 24k without changing the tone', () => {
    for (const [from, to] of [
      [16000, 44100],
      [22050, 24000],
    ] as const) {
      const output = resample(sine(1000, from, 1, 0.5), from, to);
      assert.equal(output.length, to);
      assert.ok(Math.abs(decibels(toneAmplitude(output, to, 1000) / 0.5)) < 0.1);
    }
  });

  it('handles ratios with a huge reduced numerator (44101 → 16000)', () => {
    const output = resample(sine(1000, 44101, 1, 0.5), 44101, 16000);
    assert.equal(output.length, 16000);
    assert.ok(Math.abs(decibels(toneAmplitude(output, 16000, 1000) / 0.5)) < 0.1);
  });

  it('handles inputs shorter than the filter', () => {
    assert.equal(resample(new Float32Array(0), 48000, 16000).length, 0);
    assert.equal(resample(new Float32Array(5).fill(1), 48000, 16000).length, 2);
  });

  it('rejects rates that are not positive integers', () => {
    assert.throws(() => resample(new Float32Array(4), 0, 16000), RangeError);
    assert.throws(() => resample(new Float32Array(4), 44100.5, 16000), RangeError);
  });
});

describe('resampleInSlices', () => {
  for (const [fromRate, toRate] of [
    [48000, 16000],
    [44100, 16000],
    [8000, 16000],
    [22050, 24000],
    [16000, 16000],
  ] as const) {
    it(`gives resample()'s samples in slices, ${fromRate} → ${toRate} Hz`, () => {
      const input = sine(440, fromRate, 2.3, 0.5);
      const slices = [...resampleInSlices(input, fromRate, toRate, 200_000)];
      if (fromRate !== toRate) assert.ok(slices.length > 2, `${slices.length} slices`);
      const joined = new Float32Array(slices.reduce((n, slice) => n + slice.length, 0));
      let at = 0;
      for (const slice of slices) {
        joined.set(slice, at);
        at += slice.length;
      }
      assert.deepEqual(joined, resample(input, fromRate, toRate));
    });
  }

  it('refuses the rates resample() refuses', () => {
    assert.throws(() => [...resampleInSlices(new Float32Array(10), 0, 16000)], RangeError);
    assert.throws(() => [...resampleInSlices(new Float32Array(10), 768_000, 4000)], RangeError);
  });
});

function peak(samples: Float32Array): number {
  let max = 0;
  for (const value of samples) max = Math.max(max, Math.abs(value));
  return max;
}
