/**
 * Long jobs in parallel: the decoded samples are cut into pieces of about
 * JOB_SPLIT_MINUTES at the quietest moment of the last seconds before each limit (so a
 * word is rarely cut in two), each piece compressed on its own, so free workers
 * transcribe them at the same time; `joinPieces` puts the transcripts back together.
 */
import type { Transcript, TranscriptSegment } from '../asr/engines/asr-engine.js';
import { quietCut } from '../asr/engines/audio-windows.js';
import { encodeJobAudio, type ShortClipForm } from './job-audio.js';

const SAMPLE_RATE = 16_000;

export interface AudioPiece {
  readonly data: Buffer;
  readonly offsetSeconds: number;
  readonly seconds: number;
}

export interface PiecedAudio {
  readonly pieces: readonly AudioPiece[];
  readonly seconds: number;
}

/** `pieceSeconds` 0: one piece whatever the length. Holds at most one piece of samples. */
export async function encodeJobPieces(
  chunks: AsyncIterable<Float32Array>,
  signal: AbortSignal,
  pieceSeconds: number,
  short: ShortClipForm = 'compact',
): Promise<PiecedAudio> {
  if (pieceSeconds <= 0) {
    const whole = await encodeJobAudio(chunks, signal, short);
    return {
      pieces: [{ data: whole.data, offsetSeconds: 0, seconds: whole.seconds }],
      seconds: whole.seconds,
    };
  }
  const capacity = Math.max(SAMPLE_RATE, Math.round(pieceSeconds * SAMPLE_RATE));
  const pieces: AudioPiece[] = [];
  // Grown as samples come, up to a piece: a clip of seconds must not cost a piece's 38 MB.
  let buffer = new Float32Array(0);
  let filled = 0;
  let offset = 0;
  const emit = async (count: number) => {
    // Encoded (copied) before the buffer is touched again.
    const encoded = await encodeJobAudio(once(buffer.subarray(0, count)), signal, short);
    pieces.push({ data: encoded.data, offsetSeconds: offset / SAMPLE_RATE, seconds: encoded.seconds });
  };
  for await (const chunk of chunks) {
    let taken = 0;
    while (taken < chunk.length) {
      const n = Math.min(chunk.length - taken, capacity - filled);
      if (filled + n > buffer.length) {
        const grown = new Float32Array(Math.min(capacity, Math.max(filled + n, buffer.length * 2)));
        grown.set(buffer.subarray(0, filled));
        buffer = grown;
      }
      buffer.set(chunk.subarray(taken, taken + n), filled);
      filled += n;
      taken += n;
      if (filled < capacity) continue;
      const cut = quietCut(buffer, 0, capacity);
      await emit(cut);
      buffer.copyWithin(0, cut, filled);
      filled -= cut;
      offset += cut;
    }
  }
  if (filled > 0) await emit(filled);
  return { pieces, seconds: (offset + filled) / SAMPLE_RATE };
}

async function* once(samples: Float32Array): AsyncGenerator<Float32Array> {
  yield samples;
}

/**
 * One transcript from the pieces' (in order): times shifted by each piece's offset,
 * segment ids renumbered, times kept monotonic across the joins.
 */
export function joinPieces(
  parts: readonly { transcript: Transcript; offsetSeconds: number }[],
  seconds: number,
): Transcript {
  const segments: TranscriptSegment[] = [];
  let floor = 0;
  for (const { transcript, offsetSeconds } of parts) {
    for (const segment of transcript.segments) {
      const start = Math.max(segment.start + offsetSeconds, floor);
      const end = Math.max(segment.end + offsetSeconds, start);
      const shifted: TranscriptSegment = { ...segment, id: segments.length, start, end };
      segments.push(
        segment.words === undefined
          ? shifted
          : {
              ...shifted,
              words: segment.words.map((w) => ({
                ...w,
                start: Math.max(w.start + offsetSeconds, start),
                end: Math.max(w.end + offsetSeconds, start),
              })),
            },
      );
      floor = end;
    }
  }
  return {
    language: parts[0]?.transcript.language ?? 'en',
    duration: seconds,
    text: segments.map((s) => s.text).join(''),
    segments,
  };
}
