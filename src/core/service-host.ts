import type { Logger } from 'pino';
import type { LoadableEngine } from './engine.js';
import type { ServiceApp } from './service-app.js';
import type { ServiceRuntime } from './service-runtime.js';

export interface HostedService {
  readonly app: ServiceApp;
  readonly runtime: ServiceRuntime<LoadableEngine>;
  readonly port: number;
}

/**
 * Runs one or more services in this process and shuts them down gracefully: stop
 * accepting, let running and queued requests finish within the grace period, then
 * unload the models.
 */
export class ServiceHost {
  private closing: Promise<boolean> | undefined;

  constructor(
    private readonly services: readonly HostedService[],
    private readonly options: { host: string; shutdownGraceSeconds: number; logger: Logger },
  ) {}

  async start(): Promise<void> {
    for (const service of this.services) {
      const address = await service.app.listen({ host: this.options.host, port: service.port });
      service.runtime.logger.info(
        { event: 'listening', address },
        `${service.runtime.service} service listening`,
      );
    }
  }

  /** Ports actually bound (useful when the configured port was 0). */
  boundPorts(): number[] {
    return this.services.map((s) => {
      const address = s.app.server.address();
      return typeof address === 'object' && address !== null ? address.port : s.port;
    });
  }

  /** Resolves true when everything drained in time, false when the grace period forced it. */
  shutdown(reason: string): Promise<boolean> {
    this.closing ??= this.drain(reason);
    return this.closing;
  }

  private async drain(reason: string): Promise<boolean> {
    const { logger, shutdownGraceSeconds } = this.options;
    logger.info({ event: 'shutdown_started', reason, graceSeconds: shutdownGraceSeconds }, 'draining');
    const drained = Promise.all(
      // The runtime starts draining first, so new inference requests get a clear
      // 503 while the server finishes what it accepted.
      this.services.map(({ app, runtime }) => Promise.all([runtime.close(), app.close()])),
    ).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), shutdownGraceSeconds * 1000);
    });
    const inTime = await Promise.race([drained, timedOut]);
    clearTimeout(timer);
    if (!inTime) await this.force();
    logger.info({ event: 'shutdown_finished', drained: inTime }, inTime ? 'drained' : 'grace period over');
    return inTime;
  }

  private async force(): Promise<void> {
    for (const { app, runtime } of this.services) {
      app.server.closeAllConnections();
      await runtime.destroy();
    }
  }
}
