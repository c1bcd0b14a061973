import { detailedHealth } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

export interface WyomingServices {
  readonly server: ServiceProcess;
  /** The Wyoming port a service logged (its setting was 0: a free port). */
  port(service: 'asr' | 'tts'): number;
}

/** `voice-stack serve …` with the Wyoming listeners of the services it runs on free ports. */
export async function startWithWyoming(
  target: 'asr' | 'tts' | 'both',
  env: Record<string, string>,
): Promise<WyomingServices> {
  const services: ('asr' | 'tts')[] = target === 'both' ? ['asr', 'tts'] : [target];
  const ports = Object.fromEntries(services.map((s) => [`WYOMING_${s.toUpperCase()}_PORT`, '0']));
  const server = await ServiceProcess.start(['serve', ...(target === 'both' ? [] : [target])], {
    ...ports,
    ...env,
  });
  const listening = (service: string) =>
    server.logs.find((l) => l.event === 'wyoming_listening' && l.service === service);
  try {
    await server.waitFor(
      () => services.every((s) => listening(s) !== undefined),
      20_000,
      'wyoming listeners',
    );
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    server,
    port: (service) => {
      const line = listening(service);
      if (line === undefined) throw new Error(`no wyoming listener for ${service}`);
      return line.port as number;
    },
  };
}

/** Polls /health/detailed until nothing runs or waits (the test fails on its own timeout otherwise). */
export async function countsSettle(baseUrl: string): Promise<{ active: number; queued: number }> {
  const deadline = Date.now() + 30_000;
  while (true) {
    const { concurrency } = await detailedHealth(baseUrl);
    const counts = { active: concurrency.active_requests, queued: concurrency.queued };
    if ((counts.active === 0 && counts.queued === 0) || Date.now() > deadline) return counts;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
