/**
 * Bounds on clients that send slowly or hold connections: without them a few hundred
 * sockets trickling a body (or declaring a longer Content-Length than they send) hold
 * file descriptors and memory until the process can no longer accept /health.
 *
 * - headers: Node's `headersTimeout`, a total bound (headers are small).
 * - body: an idle bound (`BODY_IDLE_TIMEOUT_SECONDS` of silence cuts it) plus a generous
 *   total `requestTimeout`, so an honest slow-but-steady upload of a large file is never
 *   cut while a stalled one is. A socket timeout for the whole connection would not do:
 *   it would also cut a request whose body is in and whose inference runs for minutes.
 * - connections: `server.maxConnections` caps the total, a per-address count keeps one
 *   client from taking all of it (so a probe from elsewhere still gets in).
 */
import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { ErrorKinds, requestTimeoutError, VoiceStackError } from '../errors.js';
import type { Settings } from '../settings.js';
import { errorEnvelope } from './error-handler.js';
import { namedPlugin } from './named-plugin.js';
import type { ServiceApp } from './service-app-type.js';

/** How long a cut socket may take to flush its 408 before it is destroyed. */
const CUT_LINGER_MS = 1000;
/** How often Node looks for requests past headersTimeout/requestTimeout (its default is 30 s). */
const CHECK_INTERVAL_MS = 1000;

type TimeoutSettings = Pick<
  Settings,
  'requestTimeoutSeconds' | 'headersTimeoutSeconds' | 'bodyIdleTimeoutSeconds'
>;

/** The Fastify constructor options that carry Node's own request bounds. */
export function serverTimeoutOptions(settings: TimeoutSettings) {
  const requestTimeout = Math.round(settings.requestTimeoutSeconds * 1000);
  // Node refuses a headers bound longer than a (non-zero) request bound.
  const headers = Math.round(settings.headersTimeoutSeconds * 1000);
  const headersTimeout = requestTimeout > 0 ? Math.min(headers, requestTimeout) : headers;
  return {
    requestTimeout,
    // 0: no idle bound on the whole socket (see the file comment); the body has its own.
    connectionTimeout: 0,
    http: { requestTimeout, headersTimeout, connectionsCheckingInterval: CHECK_INTERVAL_MS },
  };
}

/** The response each socket is working on, so a socket-level error knows whether it may still answer. */
const currentResponse = new WeakMap<Socket, ServerResponse>();

/** Answers 408 in the error envelope when nothing was sent yet, then lets go of the socket. */
function cutRequest(socket: Socket, error: VoiceStackError, logger: FastifyBaseLogger): void {
  if (socket.destroyed) return;
  const response = currentResponse.get(socket);
  const canAnswer = response === undefined || response.writableFinished || !response.headersSent;
  logger.warn(
    { event: 'request_cut', code: error.code, remote: socket.remoteAddress, answered: canAnswer },
    error.message,
  );
  if (canAnswer && socket.writable) socket.end(rawResponse(error));
  // Still reading: the client may never stop sending, so the socket goes for good.
  const timer = setTimeout(() => socket.destroy(), CUT_LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

function rawResponse(error: VoiceStackError): string {
  const body = JSON.stringify(errorEnvelope(error));
  return [
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/**
 * Replaces Fastify's client-error handler, whose 408 body is not the envelope and
 * which writes a raw response even over one already under way.
 */
export function clientErrorHandler(this: { log: FastifyBaseLogger }, error: Error, socket: Socket): void {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNRESET' || socket.destroyed) return;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    const started = currentResponse.get(socket)?.writableFinished === false;
    const detail = started
      ? 'the request body did not arrive in time'
      : 'the request headers did not arrive in time';
    const setting = started ? 'REQUEST_TIMEOUT_SECONDS' : 'HEADERS_TIMEOUT_SECONDS';
    cutRequest(socket, requestTimeoutError(detail, setting), this.log);
    return;
  }
  const malformed =
    code === 'HPE_HEADER_OVERFLOW'
      ? new VoiceStackError(ErrorKinds.headersTooLarge, 'Request headers too large.')
      : new VoiceStackError(ErrorKinds.invalidParameter, 'Invalid request: not valid HTTP/1.1.');
  if (socket.writable) socket.end(rawResponse(malformed));
  socket.destroy();
}

/** Connection bounds and the body idle timeout; the server timeouts are set at construction. */
export const slowClientGuards = namedPlugin(
  'slow-client-guards',
  (
    app,
    options: {
      settings: Pick<Settings, 'maxConnections' | 'maxConnectionsPerIp' | 'bodyIdleTimeoutSeconds'>;
    },
  ) => {
    registerConnectionLimits(app.server, options.settings, app.log);
    registerBodyIdleTimeout(app, options.settings.bodyIdleTimeoutSeconds);
  },
);

/** Cuts a request whose body goes silent for BODY_IDLE_TIMEOUT_SECONDS. */
function registerBodyIdleTimeout(app: ServiceApp, idleSeconds: number): void {
  const idleMs = Math.round(idleSeconds * 1000);
  app.addHook('onRequest', async (request, reply) => {
    const socket = request.raw.socket;
    currentResponse.set(socket, reply.raw);
    if (request.raw.complete || !hasBody(request.raw)) return;
    const error = requestTimeoutError(
      `no body bytes arrived for ${idleSeconds}s`,
      'BODY_IDLE_TIMEOUT_SECONDS',
    );
    // Node emits `timeout` on the request only while its body is incomplete.
    request.raw.setTimeout(idleMs, () => cutRequest(socket, error, request.log));
    request.raw.once('end', () => {
      // Once the response is done Node has set the keep-alive timeout: leave it.
      if (!reply.raw.writableFinished) socket.setTimeout(0);
    });
  });
}

function hasBody(raw: IncomingMessage): boolean {
  return raw.headers['content-length'] !== undefined || raw.headers['transfer-encoding'] !== undefined;
}

/**
 * MAX_CONNECTIONS through Node (it closes a connection over the bound as it is
 * accepted) and MAX_CONNECTIONS_PER_IP by counting addresses here. Behind a reverse
 * proxy every client shares the proxy's address, hence a per-address default well
 * above what one proxy needs for the queue.
 */
function registerConnectionLimits(
  server: Server,
  limits: Pick<Settings, 'maxConnections' | 'maxConnectionsPerIp'>,
  logger: FastifyBaseLogger,
): void {
  if (limits.maxConnections > 0) server.maxConnections = limits.maxConnections;
  server.on('drop', (data?: { remoteAddress?: string }) =>
    logger.warn(
      { event: 'connection_refused', reason: 'max_connections', remote: data?.remoteAddress },
      'MAX_CONNECTIONS reached',
    ),
  );
  if (limits.maxConnectionsPerIp <= 0) return;
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const count = (open.get(address) ?? 0) + 1;
    if (count > limits.maxConnectionsPerIp) {
      logger.warn(
        { event: 'connection_refused', reason: 'max_connections_per_ip', remote: address },
        'MAX_CONNECTIONS_PER_IP reached',
      );
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
