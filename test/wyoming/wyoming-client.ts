/**
 * A small Wyoming client for the tests, written from the protocol's README
 * (github.com/rhasspy/wyoming, "Format"), not from src/wyoming:
 *
 *   { "type": "...", "data": { ... }, "data_length": ..., "payload_length": ... }\n
 *   <data_length bytes (optional)>
 *   <payload_length bytes (optional)>
 *
 * The header is one UTF-8 JSON line; the additional data is a JSON object merged on
 * top of the header's `data`; the payload is raw bytes (PCM audio).
 */
import { connect, type Socket } from 'node:net';

export interface ClientEvent {
  type: string;
  data: Record<string, unknown>;
  payload?: Buffer;
}

type Waiter = () => void;

export class WyomingClient {
  private buffer = Buffer.alloc(0);
  private ended = false;
  private waiter: Waiter | undefined;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      }),
    );
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<WyomingClient> {
    const socket = connect({ port, host });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    return new WyomingClient(socket);
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  private async waitForBytes(): Promise<boolean> {
    if (this.ended) return false;
    await new Promise<void>((resolve) => {
      this.waiter = resolve;
    });
    return true;
  }

  /**
   * Sends an event. Small data goes inline in the header; with `dataAfterHeader` it is
   * sent as additional data with `data_length` instead (both forms are the protocol's).
   */
  send(type: string, data?: Record<string, unknown>, payload?: Buffer, dataAfterHeader = false): void {
    const header: Record<string, unknown> = { type };
    let extra = Buffer.alloc(0);
    if (data !== undefined && dataAfterHeader) {
      extra = Buffer.from(JSON.stringify(data));
      header.data_length = extra.length;
    } else if (data !== undefined) {
      header.data = data;
    }
    if (payload !== undefined) header.payload_length = payload.length;
    this.socket.write(
      Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), extra, payload ?? Buffer.alloc(0)]),
    );
  }

  sendRaw(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** The next event, or null once the server has closed the connection. */
  async read(): Promise<ClientEvent | null> {
    while (true) {
      const newline = this.buffer.indexOf(0x0a);
      if (newline >= 0) {
        const header = JSON.parse(this.buffer.subarray(0, newline).toString('utf8')) as {
          type: string;
          data?: Record<string, unknown>;
          data_length?: number;
          payload_length?: number;
        };
        const dataLength = header.data_length ?? 0;
        const payloadLength = header.payload_length ?? 0;
        const total = newline + 1 + dataLength + payloadLength;
        if (this.buffer.length >= total) {
          const dataStart = newline + 1;
          const extra =
            dataLength > 0
              ? (JSON.parse(
                  this.buffer.subarray(dataStart, dataStart + dataLength).toString('utf8'),
                ) as Record<string, unknown>)
              : {};
          const event: ClientEvent = { type: header.type, data: { ...(header.data ?? {}), ...extra } };
          if (payloadLength > 0)
            event.payload = Buffer.from(this.buffer.subarray(dataStart + dataLength, total));
          this.buffer = this.buffer.subarray(total);
          return event;
        }
      }
      if (!(await this.waitForBytes())) return null;
    }
  }

  /** Events up to and including the first of `type`; throws if the connection ends first. */
  async readUntil(type: string): Promise<ClientEvent[]> {
    const events: ClientEvent[] = [];
    while (true) {
      const event = await this.read();
      if (event === null) {
        throw new Error(`connection closed before '${type}' (got ${events.map((e) => e.type).join(', ')})`);
      }
      events.push(event);
      if (event.type === type) return events;
    }
  }

  /** Events up to and including the first of `type`, or all of them if the connection ends first. */
  async readToEndOrUntil(type: string): Promise<ClientEvent[]> {
    const events: ClientEvent[] = [];
    for (let event = await this.read(); event !== null; event = await this.read()) {
      events.push(event);
      if (event.type === type) break;
    }
    return events;
  }

  /** Every event until the server closes the connection. */
  async readToEnd(): Promise<ClientEvent[]> {
    const events: ClientEvent[] = [];
    for (let event = await this.read(); event !== null; event = await this.read()) events.push(event);
    return events;
  }

  /** Sends 16-bit PCM as audio-start, audio-chunks of `chunkMs`, audio-stop. */
  sendAudio(pcm: Buffer, format: { rate: number; width: number; channels: number }, chunkMs = 20): void {
    this.send('audio-start', format);
    const frame = format.width * format.channels;
    const chunkBytes = Math.max(frame, Math.floor((format.rate * chunkMs) / 1000) * frame);
    for (let offset = 0; offset < pcm.length; offset += chunkBytes) {
      this.send('audio-chunk', format, pcm.subarray(offset, offset + chunkBytes));
    }
    this.send('audio-stop');
  }

  close(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Gone with a TCP reset, as a client that crashes or loses its network. */
  reset(): void {
    this.socket.resetAndDestroy();
  }
}
