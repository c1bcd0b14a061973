import type { Logger } from 'pino';
import type { AsrEngine } from '../asr/engines/asr-engine.js';
import { errorMessage } from '../core/errors.js';
import type { SideListener } from '../core/http/service-host.js';
import type { ServiceRuntime } from '../core/runtime/service-runtime.js';
import type { Settings, WyomingListenerSettings } from '../core/settings.js';
import type { TtsEngine } from '../tts/engines/tts-engine.js';
import { AsrSession } from './asr-session.js';
import type { EventLimits } from './event-parser.js';
import { TtsSession } from './tts-session.js';
import { asrInfo, ttsInfo } from './wyoming-info.js';
import { type WyomingConnection, WyomingServer, type WyomingSession } from './wyoming-server.js';
import { advertiseWyoming, type ZeroconfAdvert } from './zeroconf.js';

const KIB = 1024;
const MIB = 1024 * KIB;

/** A header line is a few dozen bytes; the data is JSON (the longest: a synthesize text). */
const MAX_HEADER_BYTES = 64 * KIB;
/** An audio-chunk is usually 20–100 ms (a few KB); 4 MiB is two minutes of 16 kHz s16le. */
const MAX_ASR_PAYLOAD_BYTES = 4 * MIB;
/** Nothing sent to the TTS service carries a payload. */
const MAX_TTS_PAYLOAD_BYTES = 64 * KIB;

/**
 * A service's Wyoming port. When the port was defaulted (not set), one already in use
 * (another Wyoming server on 10300) is logged and skipped rather than stopping the
 * service; a port that was set must open, like the HTTP one.
 */
class WyomingListener implements SideListener {
  private advert: ZeroconfAdvert | undefined;

  constructor(
    private readonly server: WyomingServer,
    private readonly listener: WyomingListenerSettings,
    private readonly settings: Settings,
    private readonly logger: Logger,
  ) {}

  async listen(host: string): Promise<void> {
    const service = this.logger.bindings().service === 'asr' ? 'asr' : 'tts';
    const setting = service === 'asr' ? 'WYOMING_ASR_PORT' : 'WYOMING_TTS_PORT';
    let port: number;
    try {
      const address = await this.server.listen(host, this.listener.port);
      port = address.port;
      this.logger.info(
        {
          event: 'wyoming_listening',
          address: `tcp://${address.address}:${address.port}`,
          port: address.port,
        },
        'wyoming listening',
      );
    } catch (error) {
      if (this.listener.explicit) throw error;
      this.logger.warn(
        { event: 'wyoming_not_started', port: this.listener.port, err: errorMessage(error) },
        `Wyoming not started: port ${this.listener.port} is unavailable; set ${setting} to another port, or to off`,
      );
      return;
    }
    if (this.settings.apiKey !== undefined) {
      this.logger.warn(
        { event: 'wyoming_without_auth' },
        `Wyoming has no authentication: ${setting} is open to anyone who reaches it, API_KEY or not`,
      );
    }
    if (this.settings.wyoming.zeroconf) this.advert = advertiseWyoming(service, port, this.logger);
  }

  /** The advert goes first: Home Assistant should stop connecting before the port closes. */
  async close(): Promise<void> {
    await this.advert?.close();
    await this.server.close();
  }

  async destroy(): Promise<void> {
    await Promise.all([this.advert?.close(), this.server.destroy()]);
  }
}

function serverFor(
  runtime: ServiceRuntime<AsrEngine> | ServiceRuntime<TtsEngine>,
  settings: Settings,
  limits: EventLimits,
  createSession: (connection: WyomingConnection) => WyomingSession,
): WyomingServer {
  return new WyomingServer({
    limits,
    // The bound a stalled HTTP upload gets: a connection silent this long while nothing runs is dead.
    idleTimeoutMs: settings.bodyIdleTimeoutSeconds * 1000,
    maxConnections: settings.maxConnections,
    maxConnectionsPerIp: settings.maxConnectionsPerIp,
    logger: runtime.logger.child({ protocol: 'wyoming' }),
    createSession,
  });
}

/** The ASR service's Wyoming listener, or undefined when WYOMING_ASR_PORT is off. */
export function asrWyomingListener(
  runtime: ServiceRuntime<AsrEngine>,
  settings: Settings,
): SideListener | undefined {
  const listener = settings.wyoming.asr;
  if (listener === undefined) return undefined;
  const limits = {
    maxHeaderBytes: MAX_HEADER_BYTES,
    maxDataBytes: MIB,
    maxPayloadBytes: MAX_ASR_PAYLOAD_BYTES,
  };
  const info = () => asrInfo(runtime.slot.engine);
  const server = serverFor(
    runtime,
    settings,
    limits,
    (connection) => new AsrSession(runtime, connection, info),
  );
  return new WyomingListener(server, listener, settings, runtime.logger);
}

/** The TTS service's Wyoming listener, or undefined when WYOMING_TTS_PORT is off. */
export function ttsWyomingListener(
  runtime: ServiceRuntime<TtsEngine>,
  settings: Settings,
): SideListener | undefined {
  const listener = settings.wyoming.tts;
  if (listener === undefined) return undefined;
  // Six bytes per character covers any JSON escape of the longest text allowed.
  const maxDataBytes = Math.max(MIB, settings.tts.maxTextChars * 6 + 64 * KIB);
  const limits = { maxHeaderBytes: MAX_HEADER_BYTES, maxDataBytes, maxPayloadBytes: MAX_TTS_PAYLOAD_BYTES };
  const info = () => ttsInfo(runtime.slot.engine);
  const server = serverFor(
    runtime,
    settings,
    limits,
    (connection) => new TtsSession(runtime, settings.tts, connection, info),
  );
  return new WyomingListener(server, listener, settings, runtime.logger);
}
