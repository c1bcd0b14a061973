import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { errorMessage, isVoiceStackError } from '../core/errors.js';
import { type EventLimits, EventParser } from './event-parser.js';
import { encodeEvent, type WyomingEvent, wyomingEvent } from './wyoming-event.js';

/** What a session sees of its connection. */
export interface WyomingConnection {
  /** Writes an event, waiting while the client is slow to read; a no-op once the client is gone. */
  send(event: WyomingEvent): Promise<void>;
  /** Aborts when the client disconnects or the server is destroyed. */
  readonly signal: AbortSignal;
}

/** One client's conversation: events arrive one at a time, each handled before the next. */
export interface WyomingSession {
  handle(event: WyomingEvent): Promise<void>;
  /** True between the start of a request and its answer (audio arriving, text streaming, inference). */
  readonly inRequest: boolean;
}

export interface WyomingServerOptions {
  readonly limits: EventLimits;
  /**
   * A connection with nothing running that receives nothing for this long is closed,
   * and so is one that takes none of what it is sent for this long; 0 = no bound.
   */
  readonly idleTimeoutMs: number;
  /** 0 = no bound. */
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  readonly logger: Logger;
  readonly createSession: (connection: WyomingConnection) => WyomingSession;
}

/** Events received but not handled yet, in bytes, before the socket stops reading. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/**
 * What a parsed event holds beyond its bytes on the wire (the objects around them), so a
 * flood of tiny events (`{"type":"describe"}` lines) counts against MAX_QUEUED_BYTES too:
 * counting payloads alone let such a flood grow the queue without bound.
 */
const EVENT_OVERHEAD_BYTES = 256;

interface QueuedEvent {
  readonly event: WyomingEvent;
  /** Its share of the bytes received, plus EVENT_OVERHEAD_BYTES. */
  readonly bytes: number;
}
/** How long a refusal gets to reach a client before its socket is cut. */
const GOODBYE_FLUSH_MS = 1000;

/** The `error` event for anything thrown: a Voice Stack error's message and code, else a generic one. */
export function errorEvent(error: unknown): WyomingEvent {
  if (isVoiceStackError(error)) return wyomingEvent('error', { text: error.message, code: error.code });
  return wyomingEvent('error', { text: 'Internal error', code: 'VS_ERR_INTERNAL' });
}

/**
 * A Wyoming TCP listener: frames events with `EventParser`, hands them in order to
 * one session per connection, and answers a broken frame, a refused request or a
 * failed one with an `error` event, then closes that connection (Home Assistant waits
 * for an answer until the connection ends, so an error must end it). `close` drains,
 * `destroy` cuts; both are safe to call twice.
 */
export class WyomingServer {
  readonly #server: Server;
  readonly #connections = new Set<ConnectionHandler>();
  readonly #perIp = new Map<string, number>();
  #closing: Promise<void> | undefined;

  constructor(private readonly options: WyomingServerOptions) {
    this.#server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.#accept(socket));
    if (options.maxConnections > 0) this.#server.maxConnections = options.maxConnections;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    this.#server.listen({ host, port });
    await Promise.race([
      once(this.#server, 'listening'),
      once(this.#server, 'error').then(([error]) => Promise.reject(error)),
    ]);
    return this.#server.address() as AddressInfo;
  }

  #accept(socket: Socket): void {
    const ip = socket.remoteAddress ?? 'unknown';
    const count = (this.#perIp.get(ip) ?? 0) + 1;
    const { maxConnectionsPerIp } = this.options;
    if (this.#closing !== undefined || (maxConnectionsPerIp > 0 && count > maxConnectionsPerIp)) {
      // As the HTTP listener does: a connection over the bound is closed as it is accepted.
      if (this.#closing === undefined) {
        this.options.logger.warn(
          { event: 'connection_refused', reason: 'max_connections_per_ip', remote: ip },
          'MAX_CONNECTIONS_PER_IP reached',
        );
      }
      socket.destroy();
      return;
    }
    this.#perIp.set(ip, count);
    const handler = new ConnectionHandler(socket, this.options, () => {
      this.#connections.delete(handler);
      const left = (this.#perIp.get(ip) ?? 1) - 1;
      if (left > 0) this.#perIp.set(ip, left);
      else this.#perIp.delete(ip);
    });
    this.#connections.add(handler);
  }

  /** Stops accepting, ends idle connections now and the others once their request is answered. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      for (const connection of this.#connections) connection.drain();
      await Promise.all([closed, ...[...this.#connections].map((c) => c.closed)]);
    })();
    return this.#closing;
  }

  /** Cuts every connection now (their running work sees its signal abort); resolves once closed. Safe twice. */
  async destroy(): Promise<void> {
    const closing = this.close();
    for (const connection of this.#connections) connection.destroy();
    await closing;
  }
}

/** One TCP connection: parser in, events handled one by one, events out. */
class ConnectionHandler implements WyomingConnection {
  readonly #abort = new AbortController();
  readonly #parser: EventParser;
  readonly #queue: QueuedEvent[] = [];
  readonly #session: WyomingSession;
  readonly #log: Logger;
  #queuedBytes = 0;
  #busy = false;
  #draining = false;
  /** The client half-closed: nothing more will arrive. */
  #peerEnded = false;
  #ending = false;
  #endCalled = false;
  #idleTimer: NodeJS.Timeout | undefined;
  readonly closed: Promise<void>;

  constructor(
    private readonly socket: Socket,
    private readonly options: WyomingServerOptions,
    onClosed: () => void,
  ) {
    this.#parser = new EventParser(options.limits);
    this.#log = options.logger.child({ client: `${socket.remoteAddress}:${socket.remotePort}` });
    this.#session = options.createSession(this);
    const openedAt = Date.now();
    this.#log.debug({ event: 'wyoming_connection_opened' }, 'wyoming connection opened');
    // Not `once(socket, 'close')`: that rejects on the 'error' before a reset's 'close'.
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        clearTimeout(this.#idleTimer);
        this.#abort.abort();
        onClosed();
        this.#log.debug(
          { event: 'wyoming_connection_closed', durationMs: Date.now() - openedAt },
          'wyoming connection closed',
        );
        resolve();
      }),
    );
    socket.on('error', (error) => this.#log.debug({ err: error }, 'wyoming connection error'));
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('end', () => this.#endWhenDone());
    this.#resetIdle();
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  async send(event: WyomingEvent): Promise<void> {
    const { socket } = this;
    if (socket.destroyed || !socket.writable) return;
    if (socket.write(encodeEvent(event))) return;
    const done = new AbortController();
    // A client that stops reading would hold its inference slot for good: past the idle
    // bound without taking a byte, it is cut, and its work sees the abort.
    const stalled = setTimeout(
      () => {
        this.#log.info({ event: 'wyoming_write_stalled' }, 'wyoming client stopped reading, closed');
        socket.destroy();
      },
      this.options.idleTimeoutMs > 0 ? this.options.idleTimeoutMs : 2 ** 31 - 1,
    );
    // 'close' ends the wait that 'drain' never would for a client gone; the loser is cancelled.
    await Promise.race([once(socket, 'drain', { signal: done.signal }), this.closed])
      .catch(() => {})
      .finally(() => {
        clearTimeout(stalled);
        done.abort();
      });
  }

  #receive(chunk: Buffer): void {
    if (this.#ending) return;
    this.#resetIdle();
    let events: WyomingEvent[];
    const bufferedBefore = this.#parser.bufferedBytes;
    try {
      events = this.#parser.push(chunk);
    } catch (error) {
      this.#log.info({ event: 'wyoming_protocol_error', err: errorMessage(error) }, 'wyoming protocol error');
      void this.#fail(error);
      return;
    }
    // The bytes these events took off the wire (headers, data, payloads), shared among them.
    const consumed = bufferedBefore + chunk.length - this.#parser.bufferedBytes;
    for (const event of events) {
      const bytes = consumed / events.length + EVENT_OVERHEAD_BYTES;
      this.#queue.push({ event, bytes });
      this.#queuedBytes += bytes;
    }
    if (this.#queuedBytes > MAX_QUEUED_BYTES) this.socket.pause();
    void this.#pump();
  }

  async #pump(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      for (let queued = this.#queue.shift(); queued !== undefined; queued = this.#queue.shift()) {
        const { event } = queued;
        this.#queuedBytes -= queued.bytes;
        if (this.#queuedBytes <= MAX_QUEUED_BYTES && this.socket.isPaused()) this.socket.resume();
        // Gone or failed: what it queued is not answered (nobody would read it).
        if (this.#ending || this.#abort.signal.aborted) return;
        try {
          await this.#session.handle(event);
        } catch (error) {
          if (!this.#abort.signal.aborted)
            this.#log.info({ event: 'wyoming_refused', err: errorMessage(error) }, 'wyoming request failed');
          await this.#fail(error);
          return;
        }
        if (this.#draining && !this.#session.inRequest) {
          this.#end();
          return;
        }
      }
    } finally {
      this.#busy = false;
      // A client that half-closed sends nothing more: once its events are answered, close.
      if (this.#peerEnded && this.#queue.length === 0) this.#end();
      else this.#resetIdle();
    }
  }

  /** Answers with an `error` event and closes: the stream cannot be trusted past a failure. */
  async #fail(error: unknown): Promise<void> {
    if (this.#ending) return;
    this.#ending = true;
    this.socket.pause();
    await this.send(errorEvent(error));
    this.#end();
  }

  #end(): void {
    if (this.#endCalled || this.socket.destroyed) return;
    this.#endCalled = true;
    this.#ending = true;
    clearTimeout(this.#idleTimer);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), GOODBYE_FLUSH_MS).unref();
  }

  /** The client half-closed: answer what it sent, then close. */
  #endWhenDone(): void {
    this.#peerEnded = true;
    if (!this.#busy && this.#queue.length === 0) this.#end();
  }

  drain(): void {
    this.#draining = true;
    if (!this.#busy && !this.#session.inRequest) this.#end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  #resetIdle(): void {
    clearTimeout(this.#idleTimer);
    if (this.#ending || this.options.idleTimeoutMs <= 0) return;
    this.#idleTimer = setTimeout(() => {
      if (this.#busy) return this.#resetIdle();
      this.#log.info({ event: 'wyoming_idle_timeout' }, 'wyoming connection idle, closed');
      this.#end();
    }, this.options.idleTimeoutMs);
    this.#idleTimer.unref();
  }
}
