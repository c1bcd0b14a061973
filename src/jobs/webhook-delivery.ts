import { type LookupAddress, lookup } from 'node:dns';
import { UnrecoverableError } from 'bullmq';
import { Agent, request } from 'undici';
import { errorMessage } from '../core/errors.js';
import { webhookHeaders } from './webhook-signature.js';
import { isPrivateAddress } from './webhook-target.js';

export interface WebhookMessage {
  /** The transcription job's id: also the webhook-id, the same on every retry. */
  readonly id: string;
  readonly url: string;
  readonly body: string;
}

const DELIVERY_TIMEOUT_MS = 10_000;

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** A DNS lookup that fails for loopback and private answers: checked where the socket connects. */
function publicOnlyLookup(hostname: string, options: object, callback: LookupCallback): void {
  lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const refused = addresses.find((a) => isPrivateAddress(a.address));
    if (refused) {
      const denied = Object.assign(new Error(`webhook target ${hostname} resolves to a private address`), {
        code: 'VS_WEBHOOK_PRIVATE',
      });
      return callback(denied, []);
    }
    if ((options as { all?: boolean }).all) return callback(null, addresses);
    const first = addresses[0];
    callback(null, first?.address ?? '', first?.family);
  });
}

/** Posts signed webhooks; throws to have BullMQ retry, UnrecoverableError when it must not. */
export class WebhookSender {
  readonly #agent: Agent;

  constructor(
    private readonly secret: string,
    private readonly allowPrivate: boolean,
  ) {
    this.#agent = new Agent({
      connect: allowPrivate ? {} : ({ lookup: publicOnlyLookup } as object),
      headersTimeout: DELIVERY_TIMEOUT_MS,
      bodyTimeout: DELIVERY_TIMEOUT_MS,
    });
  }

  async deliver(message: WebhookMessage): Promise<void> {
    const url = new URL(message.url);
    if (!this.allowPrivate && isPrivateLiteral(url.hostname)) {
      throw new UnrecoverableError('webhook target is a loopback or private address (WEBHOOK_ALLOW_PRIVATE)');
    }
    let status: number;
    try {
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: webhookHeaders(this.secret, message.id, message.body, Date.now()),
        body: message.body,
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      status = response.statusCode;
      await response.body.dump();
    } catch (error) {
      if ((error as { code?: string }).code === 'VS_WEBHOOK_PRIVATE')
        throw new UnrecoverableError(errorMessage(error));
      throw new Error(`webhook delivery failed: ${errorMessage(error)}`);
    }
    if (status < 200 || status >= 300) throw new Error(`webhook receiver answered ${status}`);
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

function isPrivateLiteral(hostname: string): boolean {
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  return /^[\d.]+$/.test(bare) || bare.includes(':') ? isPrivateAddress(bare) : false;
}
