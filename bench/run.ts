/**
 * `npm run bench`: every benchmark, each in its own process so one cannot warm
 * or starve another, each printing ratios measured within its own run.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHES: { file: string; args: string[]; what: string }[] = [
  {
    file: 'asr-service.js',
    args: ['--rounds', '3'],
    what: 'ASR service overhead vs the whisper.cpp backend it runs',
  },
  {
    file: 'whisper-engines.js',
    args: ['--rounds', '2'],
    what: 'whisper.cpp builds: encode, ms/token, total at a speech token rate, peak RSS',
  },
  {
    file: 'thread-layouts.js',
    args: ['--concurrency', '1,2,4'],
    what: 'ASR slots x threads layouts, 1-4 concurrent 30 s requests',
  },
  {
    file: 'health-under-load.js',
    args: ['--rounds', '2'],
    what: '/health p99 at 200 req/s with every ASR slot busy, inference nice 0 vs 10',
  },
  {
    file: 'main-thread-tasks.js',
    args: ['--seconds', '15'],
    what: 'the longest holds of the ASR event loop (main-thread CPU) with every slot busy, and what ran in them',
  },
  { file: 'tts-engines.js', args: [], what: 'TTS service overhead and TTFB vs each engine' },
  {
    file: 'wyoming-latency.js',
    args: [],
    what: 'Wyoming synthesize time to first audio vs the HTTP route',
  },
  {
    file: 'realtime-latency.js',
    args: ['--rounds', '3'],
    what: 'Realtime speech_stopped to completed vs the HTTP route, 5 s utterance',
  },
  {
    file: 'job-fleet.js',
    args: [],
    what: 'a 60-minute job on 1, 2 and 4 workers; sync latency through the queue',
  },
  {
    file: 'loadtest-ceiling.js',
    args: ['--duration', '5', '--rounds', '3'],
    what: 'load generator ceiling vs autocannon',
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
