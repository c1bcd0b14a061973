/**
 * Transcription of audio of any length in bounded memory: samples arrive from the
 * decoder chunk by chunk, are gathered into blocks of a few minutes cut at a quiet
 * moment, and each block is gated for speech and handed to the engine before the next
 * is read. Only the text grows with the length; a three-hour film holds one block.
 */
import { setImmediate as eventLoopTurn } from 'node:timers/promises';
import type { PcmAudio } from '../audio/pcm-audio.js';
import {
  type AsrEngine,
  carriedPrompt,
  type SpeechRegion,
  type TranscribeOptions,
  type Transcript,
  type TranscriptSegment,
} from './engines/asr-engine.js';
import { quietCut, SAMPLE_RATE } from './engines/audio-windows.js';
import { energySpeechRegionsInTurns, keepSpokenSegments } from './speech-gate.js';

/** Five minutes (19 MB of samples): ten whisper windows, few enough cuts that context is rarely lost. */
export const BLOCK_SECONDS = 300;
/** A block ends at the quietest moment of its last few seconds, so no word is split between blocks. */
const CUT_SEARCH_SECONDS = 5;
/** whisper.cpp fails outright on clips of a few samples; a second is the least it is given. */
const MIN_ENGINE_SECONDS = 1;

export interface PieceCounters {
  /** A block reached the engine. */
  onEngineCall(): void;
  /** A block had no speech and was never heard by the engine. */
  onSilentBlock(): void;
}

/** Builds one transcript out of the blocks' transcripts, carrying language and prompt across. */
class TranscriptAssembly {
  readonly segments: TranscriptSegment[] = [];
  language: string | undefined;
  prompt: string | undefined;

  constructor(options: TranscribeOptions) {
    this.language = options.language;
    this.prompt = options.prompt;
  }

  add(transcript: Transcript, offsetSeconds: number): void {
    // The first block's language holds for the rest, as whisper does within one input.
    this.language ??= transcript.language;
    for (const segment of transcript.segments) {
      this.segments.push(shiftSegment(segment, this.segments.length, offsetSeconds));
    }
    this.prompt = carriedPrompt(this.segments, this.prompt);
  }

  result(durationSeconds: number): Transcript {
    return {
      language: this.language ?? 'en',
      duration: durationSeconds,
      text: this.segments.map((s) => s.text).join(''),
      segments: this.segments,
    };
  }
}

function shiftSegment(segment: TranscriptSegment, id: number, offset: number): TranscriptSegment {
  const shifted = { ...segment, id, start: segment.start + offset, end: segment.end + offset };
  if (segment.words === undefined) return shifted;
  return {
    ...shifted,
    words: segment.words.map((w) => ({ ...w, start: w.start + offset, end: w.end + offset })),
  };
}

/** `chunks` are 16 kHz mono samples in order, as the spooled-upload decoder yields them. */
export async function transcribeInPieces(
  engine: AsrEngine,
  chunks: AsyncIterable<Float32Array>,
  options: TranscribeOptions,
  signal: AbortSignal,
  counters: PieceCounters,
): Promise<Transcript> {
  const assembly = new TranscriptAssembly(options);
  const transcribeBlock = async (samples: Float32Array, offsetSamples: number) => {
    const audio: PcmAudio = { sampleRate: SAMPLE_RATE, samples };
    // Turns of the event loop between the steps that each take a while on a long block
    // (gathering it, gating it, the engine copying it), so no request waits for all of them.
    await eventLoopTurn();
    const speech = await speechRegions(engine, audio, signal);
    if (speech.length === 0) return counters.onSilentBlock();
    counters.onEngineCall();
    await eventLoopTurn();
    const { language, prompt } = assembly;
    const transcript = await engine.transcribe(
      padToMinimum(audio),
      {
        ...options,
        language,
        prompt,
        speech,
        onSegment: streamedSegments(options, assembly, speech, offsetSamples),
      },
      signal,
    );
    assembly.add(
      { ...transcript, segments: keepSpokenSegments(transcript.segments, speech) },
      offsetSamples / SAMPLE_RATE,
    );
  };
  const total = await forEachBlock(chunks, transcribeBlock);
  return assembly.result(total / SAMPLE_RATE);
}

/**
 * The caller's `onSegment`, given each block segment the assembly will keep (the same
 * speech filter, the same id and offset), as the engine decodes it.
 */
function streamedSegments(
  options: TranscribeOptions,
  assembly: TranscriptAssembly,
  speech: readonly SpeechRegion[],
  offsetSamples: number,
): ((segment: TranscriptSegment) => void) | undefined {
  const emit = options.onSegment;
  if (emit === undefined) return undefined;
  let streamed = 0;
  return (segment) => {
    if (keepSpokenSegments([segment], speech).length === 0) return;
    emit(shiftSegment(segment, assembly.segments.length + streamed++, offsetSamples / SAMPLE_RATE));
  };
}

/** The engine's own VAD when it has one loaded (Silero), otherwise the energy gate. */
async function speechRegions(
  engine: AsrEngine,
  audio: PcmAudio,
  signal: AbortSignal,
): Promise<readonly SpeechRegion[]> {
  const fromVad = await engine.detectSpeech?.(audio, signal);
  return fromVad ?? energySpeechRegionsInTurns(audio.samples, audio.sampleRate, () => eventLoopTurn());
}

/**
 * Gathers the chunks into blocks of about BLOCK_SECONDS in one reused buffer and calls
 * `onBlock` for each (awaited before more is read); resolves with the samples seen.
 */
async function forEachBlock(
  chunks: AsyncIterable<Float32Array>,
  onBlock: (samples: Float32Array, offsetSamples: number) => Promise<void>,
): Promise<number> {
  const capacity = (BLOCK_SECONDS + CUT_SEARCH_SECONDS) * SAMPLE_RATE;
  let buffer: Float32Array | undefined;
  let filled = 0;
  let offset = 0;
  for await (const chunk of chunks) {
    let taken = 0;
    while (taken < chunk.length) {
      // Allocated at the first samples, and only as large as a short clip needs.
      buffer ??= new Float32Array(Math.min(capacity, Math.max(chunk.length, SAMPLE_RATE * 60)));
      if (filled === buffer.length && buffer.length < capacity) buffer = grow(buffer, capacity);
      const n = Math.min(chunk.length - taken, buffer.length - filled);
      buffer.set(chunk.subarray(taken, taken + n), filled);
      filled += n;
      taken += n;
      if (filled < capacity) continue;
      const cut = quietCut(buffer, 0, capacity);
      await onBlock(buffer.subarray(0, cut), offset);
      buffer.copyWithin(0, cut, filled);
      filled -= cut;
      offset += cut;
    }
  }
  if (buffer !== undefined && filled > 0) await onBlock(buffer.subarray(0, filled), offset);
  return offset + filled;
}

function grow(buffer: Float32Array, capacity: number): Float32Array {
  const larger = new Float32Array(Math.min(capacity, buffer.length * 2));
  larger.set(buffer);
  return larger;
}

/** A clip shorter than a second is padded with silence after it: what it says is kept, and said once. */
function padToMinimum(audio: PcmAudio): PcmAudio {
  const minimum = Math.ceil(MIN_ENGINE_SECONDS * audio.sampleRate);
  if (audio.samples.length >= minimum) return audio;
  const samples = new Float32Array(minimum);
  samples.set(audio.samples);
  return { sampleRate: audio.sampleRate, samples };
}
