/**
 * Band-limited resampling by a polyphase windowed-sinc (Kaiser) filter. For a rational
 * ratio L/M every output sample falls on one of L fractional input positions, so the
 * filter taps for all of them are computed once and each output is a single dot product.
 */

/** Fractions of the lower Nyquist frequency: flat below PASSBAND, attenuated from STOPBAND up. */
const PASSBAND = 0.78;
const STOPBAND = 0.98;
const ATTENUATION_DB = 60;
/** Beyond this many phases the table would be large; positions are rounded to 1/4096 sample instead. */
const MAX_PHASES = 4096;
/**
 * Coefficients one table may hold (4 MB). A steep downsampling ratio needs many taps per
 * phase; past this the phase count gives way, so a table's size and build time are bounded
 * whatever rates a file declares (a 50 MHz WAV once asked for 1.8 GB).
 */
const MAX_TABLE_COEFFICIENTS = 1 << 20;
/** The cache is bounded by what its tables weigh, not by how many there are. */
const MAX_CACHED_BYTES = 32 * 1024 * 1024;
/** Rates a source may declare: below, a few bytes expand into hours; above, no real recording. */
export const MIN_SOURCE_RATE = 1000;
export const MAX_SOURCE_RATE = 768_000;
/** The filter's length grows with the ratio; this keeps every output sample's cost bounded. */
const MAX_DOWN_RATIO = 96;

interface ResamplePlan {
  /** Output samples per `down` input samples, reduced by their gcd. */
  readonly up: number;
  readonly down: number;
  readonly phases: number;
  readonly tapsPerPhase: number;
  /** phases × tapsPerPhase coefficients, one row per fractional position. */
  readonly table: Float32Array;
}

const plans = new Map<string, ResamplePlan>();
let cachedBytes = 0;

export function resample(samples: Float32Array, fromRate: number, toRate: number): Float32Array {
  checkRates(fromRate, toRate);
  if (fromRate === toRate) return samples;
  const plan = planFor(fromRate, toRate);
  const output = new Float32Array(outputLength(plan, samples));
  applyPlan(plan, samples, output, 0);
  return output;
}

/**
 * resample()'s output a stretch at a time, each stretch costing about `macsPerSlice`
 * multiply-adds: the same samples, so a caller on the event loop can give other work a turn
 * between stretches (at 16 kHz out of 48 kHz, a minute of audio is ~100 M multiply-adds).
 */
export function* resampleInSlices(
  samples: Float32Array,
  fromRate: number,
  toRate: number,
  macsPerSlice = 1 << 20,
): Generator<Float32Array> {
  checkRates(fromRate, toRate);
  if (fromRate === toRate) {
    yield samples;
    return;
  }
  const plan = planFor(fromRate, toRate);
  const total = outputLength(plan, samples);
  const step = Math.max(1024, Math.floor(macsPerSlice / plan.tapsPerPhase));
  for (let from = 0; from < total; from += step) {
    const output = new Float32Array(Math.min(step, total - from));
    applyPlan(plan, samples, output, from);
    yield output;
  }
}

function checkRates(fromRate: number, toRate: number): void {
  if (!isRate(fromRate) || !isRate(toRate)) {
    throw new RangeError(`Sample rates must be positive integers (got ${fromRate} → ${toRate})`);
  }
  if (fromRate > toRate * MAX_DOWN_RATIO) {
    throw new RangeError(`Cannot resample ${fromRate} Hz to ${toRate} Hz: more than ${MAX_DOWN_RATIO}:1`);
  }
}

function isRate(rate: number): boolean {
  return Number.isInteger(rate) && rate > 0;
}

function planFor(fromRate: number, toRate: number): ResamplePlan {
  const key = `${fromRate}:${toRate}`;
  let plan = plans.get(key);
  if (plan) {
    // Re-inserted, so the Map's order runs from least to most recently used.
    plans.delete(key);
    plans.set(key, plan);
    return plan;
  }
  plan = buildPlan(fromRate, toRate);
  cachePlan(key, plan);
  return plan;
}

function cachePlan(key: string, plan: ResamplePlan): void {
  for (const [oldKey, old] of plans) {
    if (cachedBytes + plan.table.byteLength <= MAX_CACHED_BYTES) break;
    plans.delete(oldKey);
    cachedBytes -= old.table.byteLength;
  }
  plans.set(key, plan);
  cachedBytes += plan.table.byteLength;
}

/** What the cached tables weigh, in bytes (for tests and metrics). */
export function resamplerCacheBytes(): number {
  return cachedBytes;
}

function buildPlan(fromRate: number, toRate: number): ResamplePlan {
  const divisor = gcd(fromRate, toRate);
  const up = toRate / divisor;
  const down = fromRate / divisor;
  // Frequencies below are fractions of the input Nyquist; the filter must stop below the lower one.
  const scale = Math.min(1, toRate / fromRate);
  const cutoff = (scale * (PASSBAND + STOPBAND)) / 2;
  const transition = scale * (STOPBAND - PASSBAND) * Math.PI;
  const length = (ATTENUATION_DB - 7.95) / (2.285 * transition) + 1;
  const tapsPerPhase = Math.ceil(length / 4) * 4;
  const phases = Math.max(1, Math.min(up, MAX_PHASES, Math.floor(MAX_TABLE_COEFFICIENTS / tapsPerPhase)));
  const table = new Float32Array(phases * tapsPerPhase);
  for (let phase = 0; phase < phases; phase++) {
    fillPhase(table.subarray(phase * tapsPerPhase, (phase + 1) * tapsPerPhase), phase / phases, cutoff);
  }
  return { up, down, phases, tapsPerPhase, table };
}

/** Taps for an output that lies `fraction` of a sample after input `base`; tap j reads input base - half + 1 + j. */
function fillPhase(row: Float32Array, fraction: number, cutoff: number): void {
  const half = row.length / 2;
  const beta = kaiserBeta(ATTENUATION_DB);
  const norm = besselI0(beta);
  let sum = 0;
  const taps = new Float32Array(row.length);
  for (let j = 0; j < row.length; j++) {
    const x = fraction + half - 1 - j;
    const r = x / half;
    const window = Math.abs(r) >= 1 ? 0 : besselI0(beta * Math.sqrt(1 - r * r)) / norm;
    taps[j] = cutoff * sinc(cutoff * x) * window;
    sum += taps[j] ?? 0;
  }
  // Unit gain at DC for every phase, so a constant signal stays constant.
  for (let j = 0; j < row.length; j++) row[j] = (taps[j] ?? 0) / sum;
}

function outputLength(plan: ResamplePlan, samples: Float32Array): number {
  return Math.ceil((samples.length * plan.up) / plan.down);
}

/** Output samples `first` … `first + output.length - 1` into `output`. */
function applyPlan(plan: ResamplePlan, samples: Float32Array, output: Float32Array, first: number): void {
  const { up, down, phases, tapsPerPhase, table } = plan;
  const half = tapsPerPhase / 2;
  for (let i = 0; i < output.length; i++) {
    const position = (first + i) * down;
    let base = Math.floor(position / up);
    let phase = Math.round(((position - base * up) * phases) / up);
    if (phase === phases) {
      base += 1;
      phase = 0;
    }
    const start = base - half + 1;
    const row = phase * tapsPerPhase;
    output[i] =
      start >= 0 && start + tapsPerPhase <= samples.length
        ? dot(table, row, samples, start, tapsPerPhase)
        : edgeDot(table, row, samples, start, tapsPerPhase);
  }
}

/** Four accumulators break the add dependency chain; this loop is where all the time goes. */
function dot(table: Float32Array, row: number, samples: Float32Array, start: number, taps: number): number {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  for (let j = 0; j < taps; j += 4) {
    a0 += (table[row + j] as number) * (samples[start + j] as number);
    a1 += (table[row + j + 1] as number) * (samples[start + j + 1] as number);
    a2 += (table[row + j + 2] as number) * (samples[start + j + 2] as number);
    a3 += (table[row + j + 3] as number) * (samples[start + j + 3] as number);
  }
  return a0 + a1 + a2 + a3;
}

/** Near the ends the signal is taken as silence beyond its first and last sample. */
function edgeDot(
  table: Float32Array,
  row: number,
  samples: Float32Array,
  start: number,
  taps: number,
): number {
  let acc = 0;
  const from = Math.max(0, -start);
  const to = Math.min(taps, samples.length - start);
  for (let j = from; j < to; j++) acc += (table[row + j] as number) * (samples[start + j] as number);
  return acc;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

function kaiserBeta(attenuationDb: number): number {
  return 0.1102 * (attenuationDb - 8.7);
}

/** Modified Bessel function of the first kind, order 0, by its power series. */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const quarterSquare = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= quarterSquare / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}
