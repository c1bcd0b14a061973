import { protocolError } from '../core/errors.js';
import type { EventData, WyomingEvent } from './wyoming-event.js';

/**
 * Bounds on what one event may declare, checked before any of it is buffered: a
 * client cannot make the server hold more than these, whatever it sends.
 */
export interface EventLimits {
  /** The header line, newline included. */
  readonly maxHeaderBytes: number;
  /** `data_length`. */
  readonly maxDataBytes: number;
  /** `payload_length`. */
  readonly maxPayloadBytes: number;
}

/** Event types are short words (`audio-chunk`); anything longer is not an event. */
const MAX_TYPE_LENGTH = 128;

type Stage =
  | { readonly kind: 'header' }
  | { readonly kind: 'data'; readonly header: Header }
  | { readonly kind: 'payload'; readonly header: Header; readonly data: EventData };

interface Header {
  readonly type: string;
  readonly data: EventData;
  readonly dataLength: number;
  readonly payloadLength: number;
}

/**
 * Cuts a byte stream into Wyoming events, however the bytes are split across reads.
 * `push` returns the events completed by a chunk and throws a protocol error on a
 * malformed header, bad JSON data or a length over the limits; after a throw the
 * stream is out of step for good, so the caller closes the connection.
 */
export class EventParser {
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private stage: Stage = { kind: 'header' };

  constructor(private readonly limits: EventLimits) {}

  /** Bytes received but not yet part of a complete event. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  push(chunk: Buffer): WyomingEvent[] {
    if (chunk.length > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    const events: WyomingEvent[] = [];
    for (let event = this.next(); event !== undefined; event = this.next()) events.push(event);
    return events;
  }

  private next(): WyomingEvent | undefined {
    while (true) {
      const stage = this.stage;
      if (stage.kind === 'header') {
        const line = this.takeLine();
        if (line === undefined) return undefined;
        if (line.trim() === '') continue;
        const header = parseHeader(line, this.limits);
        this.stage = { kind: 'data', header };
      } else if (stage.kind === 'data') {
        const { header } = stage;
        if (header.dataLength === 0) {
          this.stage = { kind: 'payload', header, data: header.data };
          continue;
        }
        const bytes = this.take(header.dataLength);
        if (bytes === undefined) return undefined;
        this.stage = { kind: 'payload', header, data: { ...header.data, ...parseData(bytes) } };
      } else {
        const { header, data } = stage;
        const payload = header.payloadLength > 0 ? this.take(header.payloadLength) : undefined;
        if (header.payloadLength > 0 && payload === undefined) return undefined;
        this.stage = { kind: 'header' };
        return payload === undefined ? { type: header.type, data } : { type: header.type, data, payload };
      }
    }
  }

  /** The next line without its newline, or undefined while it is incomplete (and within the limit). */
  private takeLine(): string | undefined {
    let scanned = 0;
    for (const buffer of this.pending) {
      const at = buffer.indexOf(0x0a);
      // Checked here too: a long line that arrives in one read is refused like one split across reads.
      if (at >= 0 && scanned + at + 1 > this.limits.maxHeaderBytes) break;
      if (at >= 0) return this.take(scanned + at + 1)?.toString('utf8', 0, scanned + at);
      scanned += buffer.length;
      if (scanned >= this.limits.maxHeaderBytes) break;
    }
    if (this.pendingBytes >= this.limits.maxHeaderBytes) {
      throw protocolError(`header line longer than ${this.limits.maxHeaderBytes} bytes`);
    }
    return undefined;
  }

  /** Exactly `n` bytes from the front, or undefined while fewer have arrived. */
  private take(n: number): Buffer | undefined {
    if (this.pendingBytes < n) return undefined;
    const joined = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
    this.pending.length = 0;
    const out = joined.subarray(0, n);
    const rest = joined.subarray(n);
    if (rest.length > 0) this.pending.push(rest);
    this.pendingBytes = rest.length;
    return out;
  }
}

function parseHeader(line: string, limits: EventLimits): Header {
  const parsed = parseJsonObject(line, 'header');
  const type = parsed.type;
  if (typeof type !== 'string' || type === '' || type.length > MAX_TYPE_LENGTH) {
    throw protocolError('header has no event type');
  }
  const data = parsed.data ?? {};
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw protocolError(`'data' of '${type}' is not an object`);
  }
  return {
    type,
    data: data as EventData,
    dataLength: length(parsed.data_length, 'data_length', limits.maxDataBytes),
    payloadLength: length(parsed.payload_length, 'payload_length', limits.maxPayloadBytes),
  };
}

function length(value: unknown, name: string, max: number): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw protocolError(`'${name}' must be a whole number of bytes`);
  }
  if (value > max) throw protocolError(`'${name}' ${value} is over the limit of ${max} bytes`);
  return value;
}

function parseData(bytes: Buffer): EventData {
  return parseJsonObject(bytes.toString('utf8'), 'data');
}

function parseJsonObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw protocolError(`${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw protocolError(`${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}
