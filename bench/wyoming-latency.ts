/**
 * Wyoming synthesize against the HTTP route on the same text, voice and engine, in one
 * run: time to the first audio chunk (what a Home Assistant speaker waits for) and to
 * the end of the audio, for `POST /v1/audio/speech` (pcm, streamed), Wyoming's
 * `synthesize`, and its streamed form (`synthesize-start` / `-chunk` / `-stop`, the
 * text sent at once). espeak-ng is the real engine; Piper runs a generated voice with
 * the size and per-second cost of a real medium one.
 *
 *   npm run build && node dist/bench/wyoming-latency.js [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { timedPost } from '../test/support/timed-stream.js';
import { piperTestEnv } from '../test/support/tts-models.js';
import { WyomingClient } from '../test/wyoming/wyoming-client.js';
import { startWithWyoming } from '../test/wyoming/wyoming-services.js';

const TEXT =
  'The quick brown fox jumps over the lazy dog while the farmer watches from the porch. ' +
  'Voice Stack turns text into speech on this small machine, one sentence after another. ' +
  'The third sentence closes the paragraph and the measurement with it.';

interface Timing {
  readonly firstMs: number;
  readonly totalMs: number;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/** One warm-up, then the median of `rounds` of each figure. */
async function repeat(rounds: number, measure: () => Promise<Timing>): Promise<Timing> {
  await measure();
  const all: Timing[] = [];
  for (let i = 0; i < rounds; i++) all.push(await measure());
  return { firstMs: median(all.map((t) => t.firstMs)), totalMs: median(all.map((t) => t.totalMs)) };
}

async function viaHttp(base: string): Promise<Timing> {
  const response = await timedPost(`${base}/v1/audio/speech`, { input: TEXT, response_format: 'pcm' });
  if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
  return { firstMs: response.firstByteMs, totalMs: response.totalMs };
}

async function viaWyoming(port: number, streamed: boolean): Promise<Timing> {
  const started = performance.now();
  const client = await WyomingClient.connect(port);
  if (streamed) {
    client.send('synthesize-start', {});
    client.send('synthesize-chunk', { text: TEXT });
    client.send('synthesize-stop');
  } else {
    client.send('synthesize', { text: TEXT });
  }
  const end = streamed ? 'synthesize-stopped' : 'audio-stop';
  let firstMs = Number.NaN;
  for (let event = await client.read(); event !== null; event = await client.read()) {
    if (event.type === 'error') throw new Error(String(event.data.text));
    if (event.type === 'audio-chunk' && Number.isNaN(firstMs)) firstMs = performance.now() - started;
    if (event.type === end) break;
  }
  const totalMs = performance.now() - started;
  client.close();
  return { firstMs, totalMs };
}

async function measureEngine(name: string, env: Record<string, string>, rounds: number): Promise<void> {
  const services = await startWithWyoming('tts', env);
  try {
    const base = services.server.url('tts');
    const port = services.port('tts');
    const http = await repeat(rounds, () => viaHttp(base));
    const plain = await repeat(rounds, () => viaWyoming(port, false));
    const streamed = await repeat(rounds, () => viaWyoming(port, true));
    const row = (label: string, t: Timing) =>
      `  ${label.padEnd(28)} first audio ${t.firstMs.toFixed(1).padStart(7)} ms (×${(t.firstMs / http.firstMs).toFixed(2)})` +
      `   all audio ${t.totalMs.toFixed(1).padStart(7)} ms (×${(t.totalMs / http.totalMs).toFixed(2)})`;
    console.log(`${name} (median of ${rounds}; × = against HTTP in this run)`);
    console.log(row('HTTP /v1/audio/speech pcm', http));
    console.log(row('Wyoming synthesize', plain));
    console.log(row('Wyoming synthesize-start…', streamed));
  } finally {
    await services.server.stop();
  }
}

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Number(values.rounds);
await measureEngine('espeak-ng', {}, rounds);
await measureEngine('piper (generated bench-size voice)', await piperTestEnv('bench'), rounds);
