/**
 * Realtime utterances through the same path as an upload: the inference gate (resource
 * guard, admission queue, model slot) and transcribeInPieces (the speech gate: Silero
 * when ASR_VAD_MODEL is loaded, else the energy gate), so /health/detailed and /metrics
 * count each one like a request.
 */
import type { ServiceRuntime } from '../../core/runtime/service-runtime.js';
import type { AsrEngine } from '../engines/asr-engine.js';
import { transcribeInPieces } from '../transcribe-in-pieces.js';
import type { UtteranceTranscriber } from './realtime-session.js';

async function* once(samples: Float32Array): AsyncGenerator<Float32Array> {
  yield samples;
}

export function runtimeTranscriber(runtime: ServiceRuntime<AsrEngine>): UtteranceTranscriber {
  return (audio, options, callerSignal, onText) =>
    runtime.gate.run(callerSignal, async (engine, signal) => {
      const transcript = await transcribeInPieces(
        engine,
        once(audio.samples),
        {
          task: 'transcribe',
          language: options.language,
          prompt: options.prompt,
          wordTimestamps: false,
          vad: false,
          onSegment: (segment) => {
            if (segment.text !== '') onText(segment.text);
          },
        },
        signal,
        {
          onEngineCall: () => runtime.metrics.speechGate.inc({ decision: 'speech' }),
          onSilentBlock: () => runtime.metrics.speechGate.inc({ decision: 'no_speech' }),
        },
      );
      runtime.metrics.audioSeconds.inc(transcript.duration);
      return transcript;
    });
}
