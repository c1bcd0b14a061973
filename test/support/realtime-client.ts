import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { convertAudio, speechWav } from './fixtures.js';

export interface ServerEvent {
  type: string;
  event_id: string;
  item_id?: string;
  previous_item_id?: string | null;
  audio_start_ms?: number;
  audio_end_ms?: number;
  delta?: string;
  transcript?: string;
  session?: Record<string, unknown>;
  error?: { type: string; code: string; message: string; param: string | null; event_id: string | null };
}

/** A Realtime client on the `ws` package: every server event kept in arrival order. */
export class RealtimeClient {
  readonly events: ServerEvent[] = [];
  closeCode: number | undefined;
  closeReason = '';
  readonly closed: Promise<void>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => this.events.push(JSON.parse(String(data)) as ServerEvent));
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve();
      });
    });
  }

  /** Opens a session; rejects with the HTTP status when the upgrade is refused. */
  static connect(
    baseUrl: string,
    options: { headers?: Record<string, string>; protocols?: string[]; query?: string } = {},
  ): Promise<RealtimeClient> {
    const url = `${baseUrl.replace(/^http/, 'ws')}/v1/realtime?${options.query ?? 'intent=transcription'}`;
    const socket = new WebSocket(url, options.protocols ?? [], { headers: options.headers ?? {} });
    const client = new RealtimeClient(socket);
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(client));
      socket.once('unexpected-response', (_request, response) => {
        reject(new Error(`HTTP ${response.statusCode}`));
        socket.terminate();
      });
      socket.once('error', reject);
    });
  }

  send(event: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(event));
  }

  sendRaw(text: string): void {
    this.socket.send(text);
  }

  append(audio: Buffer): void {
    this.send({ type: 'input_audio_buffer.append', audio: audio.toString('base64') });
  }

  of(type: string): ServerEvent[] {
    return this.events.filter((e) => e.type === type);
  }

  /** Waits until `predicate` holds over the events so far. */
  async waitFor(
    predicate: (events: ServerEvent[]) => boolean,
    what: string,
    timeoutMs = 30_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.events)) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}; got ${this.events.map((e) => e.type).join(', ')}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Waits for the next event of `type` after the `seen` first events. */
  async next(type: string, seen = 0, timeoutMs = 30_000): Promise<ServerEvent> {
    await this.waitFor((events) => events.slice(seen).some((e) => e.type === type), type, timeoutMs);
    return this.events.slice(seen).find((e) => e.type === type) as ServerEvent;
  }

  /** Sends `pcm` (s16le) at real-time pace in 20 ms appends. */
  async stream(pcm: Buffer, sampleRate: number, bytesPerSample = 2): Promise<void> {
    const chunk = Math.round(sampleRate * 0.02) * bytesPerSample;
    const started = performance.now();
    for (let offset = 0, n = 0; offset < pcm.length; offset += chunk, n++) {
      this.append(pcm.subarray(offset, offset + chunk));
      const due = started + (n + 1) * 20;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    }
  }

  close(): Promise<void> {
    this.socket.close();
    return this.closed;
  }
}

/** One spoken phrase from espeak-ng as raw mono audio in `format` (s16le at 24 kHz, or G.711 at 8 kHz). */
export function phraseAudio(
  text: string,
  name: string,
  format: 'pcm16' | 'mulaw' | 'alaw' = 'pcm16',
): Buffer {
  const wav = speechWav(text, name);
  const args =
    format === 'pcm16'
      ? ['-f', 's16le', '-ar', '24000', '-ac', '1']
      : ['-f', format, '-ar', '8000', '-ac', '1'];
  return readFileSync(convertAudio(wav, `${name}-${format}.raw`, args));
}

/** Digital silence of pcm16 at 24 kHz. */
export function silence(seconds: number, sampleRate = 24_000): Buffer {
  return Buffer.alloc(Math.round(seconds * sampleRate) * 2);
}
