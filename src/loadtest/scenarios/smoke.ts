import type { Scenario } from './scenario.js';
import { check } from './scenario.js';

/** A few sequential requests: is the service up, does it answer, does the model load. */
export const smokeScenario: Scenario = {
  name: 'smoke',
  description: 'a few sequential requests; every one must succeed',
  async runService(context) {
    const service = context.target.name;
    const before = await context.health();
    const requests = context.options.requests ?? 3;
    const result = await context.load({
      workers: context.options.workers ?? 1,
      requests,
      durationMs: context.options.durationMs,
      open: undefined,
    });
    const stats = result.services[0]?.stats;
    const server = result.services[0]?.server;
    return {
      results: [result],
      checks: [
        check(service, `GET /health/detailed answers (${before.ok ? 'ok' : before.error})`, before.ok),
        check(
          service,
          `${stats?.successful ?? 0} of ${stats?.total ?? 0} requests succeeded (100% expected)`,
          !!stats && stats.total > 0 && stats.failed === 0,
        ),
        check(
          service,
          `model loaded after the run (${String(server?.modelLoadedAtEnd ?? 'n/a')})`,
          server?.modelLoadedAtEnd === undefined ? undefined : server.modelLoadedAtEnd,
        ),
      ],
    };
  },
};
