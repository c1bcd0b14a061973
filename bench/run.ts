/**
 * `npm run bench`: every benchmark, each in its own process so one cannot warm
 * or starve another, each printing ratios measured within its own run.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHES: { file: string; args: string[]; what: string }[] = [
  { file: 'asr-service.js', args: ['--rounds', '3'], what: 'ASR service overhead vs the binding (issue 3)' },
  { file: 'tts-engines.js', args: [], what: 'TTS service overhead and TTFB vs each engine (issue 5)' },
  {
    file: 'loadtest-ceiling.js',
    args: ['--duration', '5', '--rounds', '3'],
    what: 'load generator ceiling vs autocannon (issue 4)',
  },
];

let failed = 0;
for (const bench of BENCHES) {
  process.stdout.write(`\n=== ${bench.what}: node dist/bench/${bench.file} ${bench.args.join(' ')}\n`);
  const path = fileURLToPath(new URL(bench.file, import.meta.url));
  const result = spawnSync(process.execPath, [path, ...bench.args], { stdio: 'inherit' });
  if (result.status !== 0) failed += 1;
}
process.exitCode = failed > 0 ? 1 : 0;
