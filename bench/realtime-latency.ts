/**
 * Realtime transcription latency: for a 5 s utterance streamed over the Realtime WebSocket
 * at real-time pace in 20 ms appends (server VAD), the time from `speech_stopped` to the
 * `completed` transcript, against the time one POST /v1/audio/transcriptions of the same
 * 5 s takes, in the same run, on the same server (a generated model with the real `base`
 * dimensions, so the compute is the real model's). The ratio says what the live path
 * costs over the plain one: the VAD, the buffer and the WebSocket.
 *
 * Also the turn detector's own delay: from the moment the audio at `audio_end_ms` was sent to
 * the moment `speech_stopped` arrives (the silence_duration_ms itself is inside audio_end_ms, so
 * this is what the detector adds), with the energy detector and with the Silero VAD
 * (ASR_VAD_MODEL, the generated speech-band model: the compute is Silero's real graph).
 *
 *   npm run build && node dist/bench/realtime-latency.js [--rounds 3] [--preset base]
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FormData, request } from 'undici';
import { convertAudio, FIXTURE_DIR, loopedSpeechWav, speechBandVadModel } from '../test/support/fixtures.js';
import { RealtimeClient, silence } from '../test/support/realtime-client.js';
import { ServiceProcess } from '../test/support/service-process.js';
import { generateWhisperModel, type WhisperPreset } from '../tools/gen-whisper-model.js';

const UTTERANCE_SECONDS = 5;

async function modelFor(preset: WhisperPreset): Promise<string> {
  const path = join(FIXTURE_DIR, `ggml-${preset}-random.bin`);
  if (!existsSync(path)) await generateWhisperModel({ preset, outPath: path, seed: 11 });
  return path;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

async function viaHttp(baseUrl: string, wav: Buffer): Promise<number> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(wav)]), 'utterance.wav');
  form.append('model', 'whisper-1');
  form.append('language', 'en');
  const started = performance.now();
  const response = await request(`${baseUrl}/v1/audio/transcriptions`, { method: 'POST', body: form });
  await response.body.text();
  if (response.statusCode !== 200) throw new Error(`HTTP route answered ${response.statusCode}`);
  return performance.now() - started;
}

/** Streams the utterance and its trailing silence; returns stop→completed of the last utterance. */
async function viaRealtime(
  baseUrl: string,
  pcm: Buffer,
): Promise<{ ms: number; utterances: number; stopDelayMs: number }> {
  const client = await RealtimeClient.connect(baseUrl);
  try {
    client.send({
      type: 'transcription_session.update',
      session: {
        input_audio_transcription: { model: 'whisper-1', language: 'en' },
        // Long enough that the pauses between the looped sentences do not end the utterance.
        turn_detection: {
          type: 'server_vad',
          threshold: 0.5,
          prefix_padding_ms: 300,
          silence_duration_ms: 800,
        },
      },
    });
    let stoppedAt = 0;
    let completedAt = 0;
    let stopDelayMs = 0;
    let streamStart = 0;
    client.socket.on('message', (data) => {
      const event = JSON.parse(String(data)) as { type: string; audio_end_ms?: number };
      if (event.type === 'input_audio_buffer.speech_stopped') {
        stoppedAt = performance.now();
        // client.stream sends the audio up to position t by streamStart + t.
        stopDelayMs = stoppedAt - (streamStart + (event.audio_end_ms ?? 0));
      }
      if (event.type === 'conversation.item.input_audio_transcription.completed')
        completedAt = performance.now();
    });
    streamStart = performance.now();
    await client.stream(pcm, 24_000);
    const stops = () => client.of('input_audio_buffer.speech_stopped').length;
    await client.waitFor(
      (events) =>
        stops() > 0 &&
        events.filter((e) => e.type === 'conversation.item.input_audio_transcription.completed').length ===
          stops(),
      'every utterance transcribed',
      120_000,
    );
    return { ms: completedAt - stoppedAt, utterances: stops(), stopDelayMs };
  } finally {
    await client.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rounds: { type: 'string', default: '3' }, preset: { type: 'string', default: 'base' } },
  });
  const rounds = Number(values.rounds);
  const preset = values.preset as WhisperPreset;
  const wavPath = loopedSpeechWav(UTTERANCE_SECONDS);
  const wav = readFileSync(wavPath);
  const pcm = Buffer.concat([
    silence(0.5),
    readFileSync(
      convertAudio(wavPath, `speech-loop-${UTTERANCE_SECONDS}s-24k.raw`, [
        '-f',
        's16le',
        '-ar',
        '24000',
        '-ac',
        '1',
      ]),
    ),
    silence(1.5),
  ]);
  const model = await modelFor(preset);
  const detectors: { name: string; env: Record<string, string> }[] = [
    { name: 'energy detector', env: {} },
    { name: 'Silero VAD', env: { ASR_VAD_MODEL: await speechBandVadModel() } },
  ];
  console.log(
    `Realtime vs HTTP on the same ${UTTERANCE_SECONDS} s utterance (generated '${preset}' model, 2 threads, median of ${rounds}, load average ${loadavg()[0]?.toFixed(1)})`,
  );
  for (const detector of detectors) {
    const server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: model,
      ASR_CPU_THREADS: '2',
      MAX_CONCURRENT_REQUESTS: '1',
      ...detector.env,
    });
    try {
      const base = server.url('asr');
      await viaHttp(base, wav); // load the model outside the timings
      const http: number[] = [];
      const live: number[] = [];
      const stopDelays: number[] = [];
      let utterances = 0;
      for (let round = 0; round < rounds; round++) {
        http.push(await viaHttp(base, wav));
        const result = await viaRealtime(base, pcm);
        live.push(result.ms);
        stopDelays.push(result.stopDelayMs);
        utterances = Math.max(utterances, result.utterances);
      }
      const h = median(http);
      const r = median(live);
      console.log(`server VAD: ${detector.name}`);
      console.log(`  HTTP POST /v1/audio/transcriptions, request to response: ${h.toFixed(0)} ms`);
      console.log(`  Realtime, speech_stopped to completed:                   ${r.toFixed(0)} ms`);
      console.log(`  ratio realtime / HTTP: ${(r / h).toFixed(2)} (utterances the VAD found: ${utterances})`);
      console.log(
        `  speech_stopped after its audio_end_ms was sent:           ${median(stopDelays).toFixed(0)} ms`,
      );
    } finally {
      await server.stop();
    }
  }
}

await main();
