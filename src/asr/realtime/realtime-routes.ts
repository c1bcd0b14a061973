/**
 * `GET /v1/realtime?intent=transcription`: the WebSocket of the Realtime transcription
 * session. This file only adapts @fastify/websocket to RealtimeSession: the upgrade,
 * the subprotocol, the session bound, and closing. The API key (Bearer header, or the
 * `openai-insecure-api-key.<key>` subprotocol browsers use) is checked by the service's
 * auth hook before the upgrade, like any route.
 */
import websocket from '@fastify/websocket';
import { Type } from 'typebox';
import type { WebSocket } from 'ws';
import { invalidParameterError, originNotAllowedError, upgradeRequiredError } from '../../core/errors.js';
import type { ServiceApp } from '../../core/http/service-app-type.js';
import { systemClock } from '../../core/runtime/clock.js';
import type { ServiceRuntime } from '../../core/runtime/service-runtime.js';
import type { AsrEngine } from '../engines/asr-engine.js';
import { SAMPLE_RATE } from '../engines/audio-windows.js';
import { CLOSE_GOING_AWAY, CLOSE_TRY_AGAIN_LATER, RealtimeSession } from './realtime-session.js';
import type { SpeechRegionFinder } from './silero-turn-detector.js';
import { runtimeTranscriber } from './utterance-transcriber.js';

export const REALTIME_PROTOCOL = 'realtime';
/**
 * One message at most: the base64 of a little more than the buffer's two minutes of pcm16
 * (5.8 MB). OpenAI takes 15 MiB appends, but one that large could never fit the buffer, and
 * each message is held whole in memory while it arrives. Larger closes the socket (1009).
 */
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
/** Two minutes: about 6 MB of 24 kHz pcm16 per session, held until committed. */
export const MAX_BUFFER_SECONDS = 120;
/** A client that stops reading is cut once this much of its events waits to be sent. */
const MAX_UNSENT_BYTES = 4 * 1024 * 1024;

const RealtimeQuery = Type.Object({
  intent: Type.Optional(
    Type.String({ maxLength: 64, description: 'transcription (the only session served)' }),
  ),
  model: Type.Optional(Type.String({ maxLength: 256, description: 'ignored: the loaded model transcribes' })),
});

/** The subprotocol answered: `realtime` when offered, never the one that carries the key. */
function chooseProtocol(protocols: Set<string>): string | false {
  if (protocols.has(REALTIME_PROTOCOL)) return REALTIME_PROTOCOL;
  const plain = [...protocols].find((p) => !p.startsWith('openai-insecure-api-key.'));
  return plain ?? [...protocols][0] ?? false;
}

/**
 * Browsers send `Origin` with every WebSocket and apply no CORS to it, so a page on any site
 * could open a session from the visitor's browser and network. Allowed: no Origin (not a
 * browser), the service's own pages, and what CORS_ORIGINS allows.
 */
function originAllowed(origin: string, host: string | undefined, allowed: readonly string[]): boolean {
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

function socketAdapter(socket: WebSocket) {
  return {
    send(text: string) {
      if (socket.readyState !== socket.OPEN) return;
      if (socket.bufferedAmount > MAX_UNSENT_BYTES) {
        socket.terminate();
        return;
      }
      socket.send(text);
    },
    close(code: number, reason: string) {
      if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING)
        socket.close(code, reason);
    },
  };
}

/**
 * Server VAD on the engine's Silero model when ASR_VAD_MODEL is set. Through the model slot, so
 * a live session keeps the model loaded (or loads it again after an idle unload), but not the
 * admission queue: one call judges a fraction of a second of audio in a few milliseconds.
 */
function sileroFinder(runtime: ServiceRuntime<AsrEngine>): SpeechRegionFinder | undefined {
  if (runtime.settings.asr.vadModel === undefined) return undefined;
  return (samples, threshold, signal) =>
    runtime.slot.use(async (engine) =>
      engine.detectSpeech?.({ sampleRate: SAMPLE_RATE, samples }, signal, { threshold, raw: true }),
    );
}

export async function registerRealtimeRoutes(
  app: ServiceApp,
  runtime: ServiceRuntime<AsrEngine>,
): Promise<void> {
  const { asr } = runtime.settings;
  runtime.liveSessions.define('realtime', asr.maxRealtimeSessions);
  const transcribe = runtimeTranscriber(runtime);
  const findSpeech = sileroFinder(runtime);
  const sessions = new Set<RealtimeSession>();
  await app.register(async (scope) => {
    await scope.register(websocket, {
      options: { maxPayload: MAX_MESSAGE_BYTES, handleProtocols: chooseProtocol },
      // When the listener closes (the end of a drain), each client is told why, with 1001 (going away).
      preClose(done) {
        for (const session of sessions) {
          session.refuse(
            'shutting_down',
            'Server is shutting down: the session is closed.',
            CLOSE_GOING_AWAY,
          );
        }
        this.websocketServer.close();
        done();
      },
      // A client that resets its connection is not a server error. A frame over the limit (or
      // otherwise broken) is one ws has already answered with a close frame (1009, 1002…) before
      // it emits the error: terminating then could reset the connection before that frame
      // reaches a client still sending, which would see 1006 instead. ws finishes that close.
      errorHandler: (error, socket, request) => {
        request.log.debug({ err: error }, 'realtime socket error');
        if (socket.readyState !== socket.CLOSING) socket.terminate();
      },
    });
    scope.route({
      method: 'GET',
      url: '/v1/realtime',
      schema: {
        querystring: RealtimeQuery,
        // The upgrade answers 101 and leaves HTTP; a plain GET gets the documented 426.
        response: { 101: { description: 'Switching Protocols: the WebSocket session begins' } },
        description:
          'Upgrades to a WebSocket speaking the OpenAI Realtime transcription session (intent=transcription); see docs/API.md.',
      },
      handler: async () => {
        throw upgradeRequiredError('GET /v1/realtime is a WebSocket endpoint (Upgrade: websocket).');
      },
      preValidation: async (request) => {
        if ((request.query as { intent?: string }).intent !== 'transcription') {
          throw invalidParameterError(
            'intent',
            "must be 'transcription': this service serves transcription sessions",
          );
        }
        const origin = request.headers.origin;
        if (
          origin !== undefined &&
          !originAllowed(origin, request.headers.host, runtime.settings.corsOrigins)
        ) {
          throw originNotAllowedError(origin);
        }
      },
      wsHandler: (socket, request) => {
        const release = runtime.liveSessions.tryOpen('realtime');
        const log = request.log.child({ realtime: true });
        const session = new RealtimeSession(socketAdapter(socket), {
          transcribe,
          findSpeech,
          modelName: runtime.slot.engine.describe().modelName,
          idleTimeoutMs: asr.realtimeIdleTimeoutSeconds * 1000,
          maxBufferSeconds: MAX_BUFFER_SECONDS,
          clock: systemClock,
          log,
          onEnd: () => release?.(),
          onUtterance: (result) => runtime.metrics.realtimeUtterances.inc({ result }),
        });
        sessions.add(session);
        socket.on('close', () => {
          sessions.delete(session);
          session.end();
        });
        if (release === undefined) {
          session.refuse(
            'session_limit_reached',
            `Too many realtime sessions: ${asr.maxRealtimeSessions} are open (MAX_REALTIME_SESSIONS). Retry later.`,
            CLOSE_TRY_AGAIN_LATER,
          );
          return;
        }
        if (runtime.admission.isDraining) {
          session.refuse(
            'shutting_down',
            'Server is shutting down: not accepting new sessions.',
            CLOSE_TRY_AGAIN_LATER,
          );
          return;
        }
        socket.on('message', (data, isBinary) => session.receive(data as Buffer, isBinary));
        log.debug({ event: 'realtime_session_started', session: session.id }, 'realtime session started');
        session.start();
      },
    });
  });
}
