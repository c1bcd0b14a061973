import type { Logger } from 'pino';
import { drainCutError } from '../errors.js';
import type { LoadableEngine } from '../runtime/engine.js';
import type { ServiceRuntime } from '../runtime/service-runtime.js';
import { answerUnfinished } from './inflight-replies.js';
import type { ServiceApp } from './service-app-type.js';

/**
 * A listener beside the service's HTTP one that shares its runtime (the Wyoming TCP
 * port): opened after the HTTP listener, drained and cut with it.
 */
export interface SideListener {
  listen(host: string): Promise<void>;
  /** Stops accepting and resolves once its connections have ended. */
  close(): Promise<void>;
  /** Cuts its connections now; resolves once they are gone. Safe to call twice. */
  destroy(): Promise<void>;
}

export interface HostedService {
  readonly app: ServiceApp;
  readonly runtime: ServiceRuntime<LoadableEngine>;
  readonly port: number;
  readonly sideListeners?: readonly SideListener[];
}

export interface ServiceHostOptions {
  readonly host: string;
  /** The whole drain, notice included: systemd and Kubernetes count from SIGTERM. */
  readonly shutdownGraceSeconds: number;
  /** How long /ready says "draining" while work is still accepted, before the listener closes. */
  readonly drainNoticeSeconds: number;
  readonly logger: Logger;
}

/** How long the 503s written at the end of the grace period get to reach their clients. */
const FORCED_ANSWER_FLUSH_MS = 500;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs one or more services in this process and shuts them down gracefully:
 * 1. drain notice (`drainNoticeSeconds`): /ready 503 "draining", /health 200, and new
 *    work is still accepted and served, so whatever a load balancer or Kubernetes routes
 *    here before its readiness check notices succeeds instead of failing;
 * 2. after the notice, new work gets 503 + Retry-After, queued requests that cannot
 *    finish within what is left of the grace get their 503 now, and the listener closes;
 * 3. running and queued requests finish within the grace; those still unanswered at
 *    its end get a 503 before the sockets are cut; the models are unloaded.
 */
export class ServiceHost {
  private closing: Promise<boolean> | undefined;

  constructor(
    private readonly services: readonly HostedService[],
    private readonly options: ServiceHostOptions,
  ) {}

  async start(): Promise<void> {
    for (const service of this.services) {
      const address = await service.app.listen({ host: this.options.host, port: service.port });
      service.runtime.logger.info(
        { event: 'listening', address },
        `${service.runtime.service} service listening`,
      );
      for (const listener of service.sideListeners ?? []) await listener.listen(this.options.host);
    }
  }

  /** Ports actually bound (useful when the configured port was 0). */
  boundPorts(): number[] {
    return this.services.map((s) => {
      const address = s.app.server.address();
      return typeof address === 'object' && address !== null ? address.port : s.port;
    });
  }

  /**
   * Resolves true when everything drained in time, false when the grace period forced it.
   * `notice: false` skips the drain notice (Ctrl-C at a terminal has no load balancer).
   */
  shutdown(reason: string, options: { notice?: boolean } = {}): Promise<boolean> {
    this.closing ??= this.drain(reason, options.notice ?? true);
    return this.closing;
  }

  private async drain(reason: string, notice: boolean): Promise<boolean> {
    const { logger, shutdownGraceSeconds } = this.options;
    const graceMs = shutdownGraceSeconds * 1000;
    const deadline = Date.now() + graceMs;
    const noticeMs = notice ? Math.min(this.options.drainNoticeSeconds * 1000, graceMs) : 0;
    for (const { runtime } of this.services) runtime.announceDrain();
    logger.info(
      { event: 'shutdown_started', reason, graceSeconds: shutdownGraceSeconds, noticeMs },
      'draining',
    );
    await sleep(noticeMs);
    const shed = this.services.map(({ runtime }) =>
      runtime.admission.shedBeyond(deadline - Date.now(), () =>
        drainCutError(retryAfterSeconds(shutdownGraceSeconds)),
      ),
    );
    logger.info({ event: 'drain_notice_over', shedQueued: shed }, 'refusing new work, closing the listener');
    const inTime = await this.closeWithin(deadline - Date.now());
    if (!inTime) await this.force();
    logger.info({ event: 'shutdown_finished', drained: inTime }, inTime ? 'drained' : 'grace period over');
    return inTime;
  }

  /** Closes the listeners and waits for the accepted work, at most `ms`. */
  private async closeWithin(ms: number): Promise<boolean> {
    const drained = Promise.all(
      this.services.map(({ app, runtime, sideListeners = [] }) =>
        Promise.all([runtime.close(), app.close(), ...sideListeners.map((listener) => listener.close())]),
      ),
    ).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, ms));
    });
    const inTime = await Promise.race([drained, timedOut]);
    clearTimeout(timer);
    return inTime;
  }

  /** Grace over: answer whoever has no response yet, then cut the sockets and unload. */
  private async force(): Promise<void> {
    const retryAfter = retryAfterSeconds(this.options.shutdownGraceSeconds);
    await Promise.all(
      this.services.map(async ({ app, runtime }) => {
        // Queued requests fail first, so their 503s are among those flushed below.
        await runtime.admission.destroy();
        return answerUnfinished(app, drainCutError(retryAfter), FORCED_ANSWER_FLUSH_MS);
      }),
    );
    for (const { app, runtime, sideListeners = [] } of this.services) {
      app.server.closeAllConnections();
      await Promise.all(sideListeners.map((listener) => listener.destroy()));
      await runtime.destroy();
    }
  }
}

/** A replacement is usually up about one grace period after a restart began. */
function retryAfterSeconds(graceSeconds: number): number {
  return Math.max(1, Math.ceil(graceSeconds));
}
