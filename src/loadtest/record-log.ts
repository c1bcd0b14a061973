import type { RequestRecord } from './load-test-result.js';

/** Rows per chunk: 8192 rows are about 600 kB of typed arrays. */
const CHUNK_ROWS = 8192;
/** The numeric fields of a row, side by side in one Float64Array. */
const F_ID = 0;
const F_INTENDED = 1;
const F_START = 2;
const F_TTFB = 3;
const F_END = 4;
const F_LATENCY = 5;
const F_BYTES = 6;
const F_AUDIO = 7;
const F64_PER_ROW = 8;
/** stage and status, in one Int32Array. */
const I_STAGE = 0;
const I_STATUS = 1;
const I32_PER_ROW = 2;
/** Bits of a row's flag byte; a "has" bit tells undefined from a value. */
const OK = 1;
const CANCELLED = 2;
const HAS_TTFB = 4;
const HAS_AUDIO = 8;
const HAS_STAGE = 16;
const HAS_STATUS = 32;

interface Chunk {
  readonly f64: Float64Array;
  readonly i32: Int32Array;
  readonly flags: Uint8Array;
}

/**
 * Every request of one service, kept as typed-array columns instead of one object per
 * request. At a hundred thousand requests a second the objects were what the garbage
 * collector spent its time on: each survived its young generation and was copied into
 * the old one, a cost per request that a bare generator (autocannon) does not pay
 * (bench/loadtest-ceiling.ts). Rows are turned back into RequestRecord objects only
 * when a report asks for them (`toRecords`); statistics read the rows in place (`scan`).
 */
export class RecordLog {
  readonly #service: string;
  readonly #chunks: Chunk[] = [];
  /** Error texts by row: only failed requests have one. */
  readonly #errors = new Map<number, string>();
  /** Service names by row, for the rare record that is not this log's service. */
  readonly #otherServices = new Map<number, string>();
  #length = 0;
  #records: RequestRecord[] | undefined;

  constructor(service: string) {
    this.#service = service;
  }

  get length(): number {
    return this.#length;
  }

  append(record: RequestRecord): void {
    const row = this.#length;
    const offset = row % CHUNK_ROWS;
    if (offset === 0) {
      this.#chunks.push({
        f64: new Float64Array(CHUNK_ROWS * F64_PER_ROW),
        i32: new Int32Array(CHUNK_ROWS * I32_PER_ROW),
        flags: new Uint8Array(CHUNK_ROWS),
      });
    }
    const chunk = this.#chunks[this.#chunks.length - 1] as Chunk;
    const f = offset * F64_PER_ROW;
    const f64 = chunk.f64;
    f64[f + F_ID] = record.id;
    f64[f + F_INTENDED] = record.intendedMs;
    f64[f + F_START] = record.startMs;
    f64[f + F_END] = record.endMs;
    f64[f + F_LATENCY] = record.latencyMs;
    f64[f + F_BYTES] = record.bytesReceived;
    let flags = (record.ok ? OK : 0) | (record.cancelled ? CANCELLED : 0);
    if (record.ttfbMs !== undefined) {
      f64[f + F_TTFB] = record.ttfbMs;
      flags |= HAS_TTFB;
    }
    if (record.audioSeconds !== undefined) {
      f64[f + F_AUDIO] = record.audioSeconds;
      flags |= HAS_AUDIO;
    }
    const i = offset * I32_PER_ROW;
    if (record.stage !== undefined) {
      chunk.i32[i + I_STAGE] = record.stage;
      flags |= HAS_STAGE;
    }
    if (record.status !== undefined) {
      chunk.i32[i + I_STATUS] = record.status;
      flags |= HAS_STATUS;
    }
    chunk.flags[offset] = flags;
    if (record.error !== undefined) this.#errors.set(row, record.error);
    if (record.service !== this.#service) this.#otherServices.set(row, record.service);
    this.#length = row + 1;
    this.#records = undefined;
  }

  /**
   * Calls `visit` for every row in the order appended. The record it gets is one object
   * refilled for each row: read it, do not keep it.
   */
  scan(visit: (record: Readonly<RequestRecord>) => void): void {
    const view = emptyRecord(this.#service);
    for (let row = 0; row < this.#length; row++) {
      this.#fill(view, row);
      visit(view);
    }
  }

  /** Every row as its own RequestRecord, sorted by id; built once, then shared. */
  toRecords(): RequestRecord[] {
    if (this.#records) return this.#records;
    const records = new Array<RequestRecord>(this.#length);
    for (let row = 0; row < this.#length; row++) {
      const record = emptyRecord(this.#service);
      this.#fill(record, row);
      records[row] = record;
    }
    records.sort((a, b) => a.id - b.id);
    this.#records = records;
    return records;
  }

  #fill(record: RequestRecord, row: number): void {
    const chunk = this.#chunks[Math.floor(row / CHUNK_ROWS)] as Chunk;
    const offset = row % CHUNK_ROWS;
    const f = offset * F64_PER_ROW;
    const i = offset * I32_PER_ROW;
    const f64 = chunk.f64;
    const flags = chunk.flags[offset] as number;
    record.id = f64[f + F_ID] as number;
    record.service =
      this.#otherServices.size === 0 ? this.#service : (this.#otherServices.get(row) ?? this.#service);
    record.stage = flags & HAS_STAGE ? chunk.i32[i + I_STAGE] : undefined;
    record.intendedMs = f64[f + F_INTENDED] as number;
    record.startMs = f64[f + F_START] as number;
    record.ttfbMs = flags & HAS_TTFB ? f64[f + F_TTFB] : undefined;
    record.endMs = f64[f + F_END] as number;
    record.latencyMs = f64[f + F_LATENCY] as number;
    record.status = flags & HAS_STATUS ? chunk.i32[i + I_STATUS] : undefined;
    record.ok = (flags & OK) !== 0;
    record.error = this.#errors.size === 0 ? undefined : this.#errors.get(row);
    record.cancelled = (flags & CANCELLED) !== 0;
    record.bytesReceived = f64[f + F_BYTES] as number;
    record.audioSeconds = flags & HAS_AUDIO ? f64[f + F_AUDIO] : undefined;
  }
}

/** Fields in RequestRecord's order, so every record built here shares one shape. */
function emptyRecord(service: string): RequestRecord {
  return {
    id: 0,
    service,
    stage: undefined,
    intendedMs: 0,
    startMs: 0,
    ttfbMs: undefined,
    endMs: 0,
    latencyMs: 0,
    status: undefined,
    ok: false,
    error: undefined,
    cancelled: false,
    bytesReceived: 0,
    audioSeconds: undefined,
  };
}
