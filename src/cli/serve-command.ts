import type { Command } from 'commander';
import { pino } from 'pino';
import { asrService } from '../asr/asr-service.js';
import { errorMessage } from '../core/errors.js';
import { type HostedService, ServiceHost, type SideListener } from '../core/http/service-host.js';
import { ResourceMonitor } from '../core/runtime/resource-guard.js';
import type { Settings } from '../core/settings.js';
import { ttsService } from '../tts/tts-service.js';
import { asrWyomingListener, ttsWyomingListener } from '../wyoming/wyoming-listener.js';
import { loadSettingsOrExit } from './load-settings.js';

type ServeTarget = 'asr' | 'tts' | 'both';

/** The HTTP service and, when its port is set, its Wyoming listener: drained and closed together. */
function withSideListener(service: HostedService, listener: SideListener | undefined): HostedService {
  return listener ? { ...service, sideListeners: [listener] } : service;
}

async function buildServices(settings: Settings, target: ServeTarget, logger: pino.Logger) {
  const monitor = new ResourceMonitor();
  const services: HostedService[] = [];
  if (target === 'tts' || target === 'both') {
    const tts = await ttsService.build(settings, logger, monitor);
    services.push(withSideListener(tts, ttsWyomingListener(tts.runtime, settings)));
  }
  if (target === 'asr' || target === 'both') {
    const asr = await asrService.build(settings, logger, monitor);
    services.push(withSideListener(asr, asrWyomingListener(asr.runtime, settings)));
  }
  return services;
}

export async function serve(target: ServeTarget): Promise<void> {
  const settings = loadSettingsOrExit();
  const logger = pino({ level: settings.logLevel, base: { pid: process.pid } });
  const services = await buildServices(settings, target, logger).catch((error: unknown) => {
    logger.fatal({ err: error }, 'could not start');
    process.stderr.write(`voice-stack: ${errorMessage(error)}\n`);
    process.exit(2);
  });
  const host = new ServiceHost(services, {
    host: settings.host,
    shutdownGraceSeconds: settings.shutdownGraceSeconds,
    drainNoticeSeconds: settings.drainNoticeSeconds,
    logger,
  });
  // SIGINT is Ctrl-C at a terminal: no load balancer to tell, so no drain notice.
  const stop = (signal: string) => {
    void host
      .shutdown(signal, { notice: signal === 'SIGTERM' })
      .then((drained) => process.exit(drained ? 0 : 1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  try {
    await host.start();
  } catch (error) {
    logger.fatal({ err: error }, 'could not start');
    process.exit(1);
  }
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('start the ASR and TTS services (default: both)')
    .argument('[service]', 'asr, tts or both', 'both')
    .action(async (service: string) => {
      if (service !== 'asr' && service !== 'tts' && service !== 'both') {
        program.error(`unknown service '${service}': expected asr, tts or both`);
      }
      await serve(service as ServeTarget);
    });
}
