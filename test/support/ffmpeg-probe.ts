import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Decodes audio with the ffmpeg binary (independent of the code under test) and
 * reports its duration and loudness.
 */
export async function probeAudio(
  data: Buffer,
  rawPcm?: { sampleRate: number },
): Promise<{ durationSeconds: number; rms: number; sampleRate: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'vs-probe-'));
  const input = join(dir, 'input');
  writeFileSync(input, data);
  const inputArgs = rawPcm ? ['-f', 's16le', '-ar', String(rawPcm.sampleRate), '-ac', '1'] : [];
  const rate = 16000;
  const { stdout } = await run(
    'ffmpeg',
    ['-v', 'error', ...inputArgs, '-i', input, '-f', 'f32le', '-ac', '1', '-ar', String(rate), 'pipe:1'],
    { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024 },
  );
  const samples = new Float32Array(stdout.buffer, stdout.byteOffset, Math.floor(stdout.length / 4));
  let sum = 0;
  for (const s of samples) sum += s * s;
  return {
    durationSeconds: samples.length / rate,
    rms: Math.sqrt(sum / Math.max(1, samples.length)),
    sampleRate: rate,
  };
}
