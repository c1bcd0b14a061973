/**
 * Wyoming events, the unit of Home Assistant's voice protocol: one JSON header line
 * (`type`, optional `data`, `data_length`, `payload_length`, `version`), then
 * `data_length` bytes of JSON merged over the header's `data`, then `payload_length`
 * bytes of payload (PCM audio). See docs/API.md, "Wyoming".
 */

export type EventData = Readonly<Record<string, unknown>>;

export interface WyomingEvent {
  readonly type: string;
  readonly data: EventData;
  readonly payload?: Buffer | undefined;
}

/**
 * The protocol version this implementation speaks (streamed transcripts and synthesis
 * arrived in 1.7); written on every event as the reference library does, never checked
 * on what arrives.
 */
export const WYOMING_PROTOCOL_VERSION = '1.8.0';

const NO_BYTES = Buffer.alloc(0);

export function wyomingEvent(type: string, data: EventData = {}, payload?: Buffer): WyomingEvent {
  return payload === undefined ? { type, data } : { type, data, payload };
}

/**
 * The bytes of one event. The data goes after the header (with `data_length`) rather
 * than inside it, as the reference library writes it, so a header line stays short
 * whatever the data holds.
 */
export function encodeEvent(event: WyomingEvent): Buffer {
  const header: Record<string, unknown> = { type: event.type, version: WYOMING_PROTOCOL_VERSION };
  const data =
    Object.keys(event.data).length > 0 ? Buffer.from(JSON.stringify(event.data), 'utf8') : NO_BYTES;
  if (data.length > 0) header.data_length = data.length;
  const payload = event.payload ?? NO_BYTES;
  if (payload.length > 0) header.payload_length = payload.length;
  // JSON.stringify escapes every line break inside strings, so the header is one line.
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`, 'utf8'), data, payload]);
}

/** The PCM layout of `audio-start` and `audio-chunk`. */
export interface PcmFormat {
  /** Samples per second per channel. */
  readonly rate: number;
  /** Bytes per sample: 1 (unsigned 8-bit), 2, 3 or 4 (signed little-endian). */
  readonly width: number;
  readonly channels: number;
}

export function sameFormat(a: PcmFormat, b: PcmFormat): boolean {
  return a.rate === b.rate && a.width === b.width && a.channels === b.channels;
}

/** A string field of an event's data, or undefined when absent or not a string. */
export function stringField(data: EventData, name: string): string | undefined {
  const value = data[name];
  return typeof value === 'string' ? value : undefined;
}

/** An object field of an event's data, or an empty object. */
export function objectField(data: EventData, name: string): EventData {
  const value = data[name];
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as EventData) : {};
}
