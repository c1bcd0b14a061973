/**
 * Cuts 16 kHz audio into the pieces handed to whisper.cpp one call each (at most the backend's
 * maxCallSeconds: 30 s for a binding that cannot stop inside a call, longer for one that can),
 * and maps times in a piece back to the input. Speech found by VAD is packed into few pieces.
 */
export const SAMPLE_RATE = 16000;
/** whisper.cpp's own window: the default piece length, and all a language detection looks at. */
export const MAX_PIECE_SECONDS = 30;
/** A cut is placed at the quietest 20 ms frame within this many seconds before a piece's end. */
const CUT_SEARCH_SECONDS = 5;

/** A stretch of audio sent in one native call, and where its times sit in the original audio. */
export interface Piece {
  readonly samples: Float32Array;
  /** Sorted by `at`: a span of the piece starting at `at` s maps to `to` s of the input. */
  readonly spans: ReadonlyArray<{ readonly at: number; readonly to: number; readonly length: number }>;
}

export function mapTime(piece: Piece, t: number): number {
  let span = piece.spans[0];
  for (const candidate of piece.spans) if (candidate.at <= t) span = candidate;
  if (span === undefined) return t;
  return span.to + Math.min(Math.max(t - span.at, 0), span.length);
}

/** Where to end a piece: the quietest 20 ms frame near the limit, so words are rarely cut in two. */
export function quietCut(samples: Float32Array, start: number, limit: number): number {
  const frame = SAMPLE_RATE / 50;
  let best = limit;
  let bestEnergy = Number.POSITIVE_INFINITY;
  for (
    let f = limit - frame;
    f >= Math.max(start + frame, limit - CUT_SEARCH_SECONDS * SAMPLE_RATE);
    f -= frame
  ) {
    let energy = 0;
    for (let i = f; i < f + frame; i++) energy += (samples[i] ?? 0) ** 2;
    if (energy < bestEnergy) {
      bestEnergy = energy;
      best = f + frame / 2;
    }
  }
  return best;
}

export function splitIntoPieces(
  samples: Float32Array,
  maxSeconds = MAX_PIECE_SECONDS,
  from = 0,
  to = samples.length,
  offsetSeconds = 0,
): Piece[] {
  const pieces: Piece[] = [];
  const max = maxSeconds * SAMPLE_RATE;
  let start = from;
  while (start < to) {
    const end = to - start <= max ? to : quietCut(samples, start, start + max);
    const length = (end - start) / SAMPLE_RATE;
    pieces.push({
      samples: samples.subarray(start, end),
      spans: [{ at: 0, to: offsetSeconds + (start - from) / SAMPLE_RATE, length }],
    });
    start = end;
  }
  return pieces;
}

/**
 * Packs speech regions into pieces of at most `maxSeconds`, each region kept whole (or split when longer),
 * so a file with many short utterances costs few encoder passes instead of one per utterance.
 */
export function packSpeech(
  samples: Float32Array,
  regions: ReadonlyArray<{ start: number; end: number }>,
  maxSeconds = MAX_PIECE_SECONDS,
): Piece[] {
  const pieces: Piece[] = [];
  const max = maxSeconds * SAMPLE_RATE;
  let parts: Float32Array[] = [];
  let spans: Array<{ at: number; to: number; length: number }> = [];
  let used = 0;
  const flush = () => {
    if (used === 0) return;
    // One stretch (a clip that is speech throughout) is handed over as it is, as splitIntoPieces
    // does, not copied: the copy ran on the event loop, a few ms per 5-minute block.
    pieces.push({ samples: parts.length === 1 ? (parts[0] as Float32Array) : joined(parts, used), spans });
    parts = [];
    spans = [];
    used = 0;
  };
  for (const region of regions) {
    const start = Math.max(0, Math.floor(region.start * SAMPLE_RATE));
    const end = Math.min(samples.length, Math.ceil(region.end * SAMPLE_RATE));
    if (end <= start) continue;
    if (end - start > max) {
      flush();
      pieces.push(...splitIntoPieces(samples, maxSeconds, start, end, start / SAMPLE_RATE));
      continue;
    }
    if (used + (end - start) > max) flush();
    spans.push({ at: used / SAMPLE_RATE, to: start / SAMPLE_RATE, length: (end - start) / SAMPLE_RATE });
    parts.push(samples.subarray(start, end));
    used += end - start;
  }
  flush();
  return pieces;
}

function joined(parts: readonly Float32Array[], length: number): Float32Array {
  const samples = new Float32Array(length);
  let at = 0;
  for (const part of parts) {
    samples.set(part, at);
    at += part.length;
  }
  return samples;
}
