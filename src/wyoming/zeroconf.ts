import { hostname } from 'node:os';
import { Bonjour } from 'bonjour-service';
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.js';

/** How Home Assistant's Wyoming integration finds servers (its manifest's zeroconf entry). */
const WYOMING_SERVICE_TYPE = 'wyoming';

export interface ZeroconfAdvert {
  /** Says goodbye on the network (so Home Assistant drops it at once), then closes the socket; safe twice. */
  close(): Promise<void>;
}

/**
 * Advertises one Wyoming listener as `_wyoming._tcp` over mDNS. Home Assistant reads the
 * host and port, then asks the server itself (`describe`) what it is, so the name only
 * has to be unique on the network: the service and this host's name.
 */
export function advertiseWyoming(service: 'asr' | 'tts', port: number, logger: Logger): ZeroconfAdvert {
  const bonjour = new Bonjour(undefined, (error: unknown) =>
    logger.warn({ event: 'wyoming_zeroconf_error', err: errorMessage(error) }, 'mDNS error'),
  );
  const name = `voice-stack-${service}-${hostname()}`;
  const advert = bonjour.publish({ name, type: WYOMING_SERVICE_TYPE, protocol: 'tcp', port });
  advert.on('up', () =>
    logger.info({ event: 'wyoming_zeroconf_published', name, port }, 'advertised over mDNS'),
  );
  advert.on('error', (error: unknown) =>
    logger.warn({ event: 'wyoming_zeroconf_error', err: errorMessage(error) }, 'mDNS advert failed'),
  );
  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= new Promise<void>((resolve) => bonjour.unpublishAll(() => resolve())).then(() =>
        bonjour.destroy(),
      );
      return closing;
    },
  };
}
