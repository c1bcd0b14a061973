/** Known signals and the measurements the audio tests make on them. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function sine(frequency: number, sampleRate: number, seconds: number, amplitude = 0.5): Float32Array {
  const samples = new Float32Array(Math.round(sampleRate * seconds));
  for (let i = 0; i < samples.length; i++) {
    samples[i] = amplitude * Math.sin((2 * Math.PI * frequency * i) / sampleRate);
  }
  return samples;
}

/** Amplitude of the component at `frequency` (Goertzel over the middle of the signal, Hann-windowed). */
export function toneAmplitude(samples: Float32Array, sampleRate: number, frequency: number): number {
  const window = middle(samples, Math.min(samples.length, sampleRate));
  const coefficient = 2 * Math.cos((2 * Math.PI * frequency) / sampleRate);
  let previous = 0;
  let beforePrevious = 0;
  let windowSum = 0;
  for (let i = 0; i < window.length; i++) {
    const hann = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (window.length - 1));
    windowSum += hann;
    const current = (window[i] ?? 0) * hann + coefficient * previous - beforePrevious;
    beforePrevious = previous;
    previous = current;
  }
  const power =
    previous * previous + beforePrevious * beforePrevious - coefficient * previous * beforePrevious;
  return (2 * Math.sqrt(Math.max(0, power))) / windowSum;
}

/** The strongest frequency in 5 Hz steps between 50 Hz and just under Nyquist. */
export function dominantFrequency(samples: Float32Array, sampleRate: number): number {
  const excerpt = middle(samples, Math.min(samples.length, sampleRate / 2));
  let best = 0;
  let bestAmplitude = -1;
  for (let frequency = 50; frequency < sampleRate / 2 - 50; frequency += 5) {
    const amplitude = toneAmplitude(excerpt, sampleRate, frequency);
    if (amplitude > bestAmplitude) {
      bestAmplitude = amplitude;
      best = frequency;
    }
  }
  return best;
}

export function decibels(ratio: number): number {
  return 20 * Math.log10(ratio);
}

function middle(samples: Float32Array, length: number): Float32Array {
  const start = Math.floor((samples.length - length) / 2);
  return samples.subarray(start, start + length);
}

/** Runs ffmpeg to make a fixture; throws with ffmpeg's message if it fails. */
export function ffmpeg(...args: string[]): void {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

/** A temporary directory removed by the returned cleanup function. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'voice-stack-audio-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
