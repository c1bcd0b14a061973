import type { Scenario } from './scenario.js';
import { check, settingName } from './scenario.js';

const POLL_MS = 1000;
/** Unloading runs on the server's own timer; allow it this long past the timeout. */
const GRACE_MS = 30_000;

/** One request, silence past the idle timeout, the model must unload; the next request reloads it. */
export const idleScenario: Scenario = {
  name: 'idle',
  description: 'the model unloads after the idle timeout and reloads on the next request',
  async runService(context) {
    const service = context.target.name;
    const before = await context.health();
    const idleMinutes = before.idleTimeoutMinutes;
    const setting = `${settingName(service, 'IDLE_TIMEOUT_MINUTES')} ${idleMinutes ?? 'n/a'}`;
    if (!idleMinutes) {
      return { results: [], checks: [check(service, `idle unloading is off (${setting})`, undefined)] };
    }
    const once = { workers: 1, requests: 1, durationMs: undefined, open: undefined };
    const warm = await context.load(once);
    const loaded = (await context.health()).modelLoaded;
    const limitMs = context.options.durationMs ?? idleMinutes * 60_000 + GRACE_MS;
    context.log(`idle (${service}): waiting up to ${(limitMs / 1000).toFixed(0)}s for the model to unload`);
    const unloadedAfterMs = await waitForUnload(context, limitMs);
    const again = await context.load(once);
    const reloaded = (await context.health()).modelLoaded;
    const unloadText =
      unloadedAfterMs === undefined
        ? 'not unloaded'
        : `unloaded after ${(unloadedAfterMs / 1000).toFixed(1)}s`;
    return {
      results: [warm, again],
      checks: [
        check(service, `model loaded after a request (${String(loaded)})`, loaded),
        check(
          service,
          `model ${unloadText} (${setting})`,
          unloadedAfterMs !== undefined && unloadedAfterMs >= idleMinutes * 60_000 - POLL_MS * 2,
        ),
        check(
          service,
          `next request succeeded and reloaded the model (${String(reloaded)})`,
          again.services[0]?.stats.failed === 0 && reloaded === true,
        ),
      ],
    };
  },
};

async function waitForUnload(
  context: Parameters<Scenario['runService']>[0],
  limitMs: number,
): Promise<number | undefined> {
  const started = performance.now();
  while (performance.now() - started < limitMs && !context.interrupted()) {
    await context.sleep(POLL_MS);
    if ((await context.health()).modelLoaded === false) return performance.now() - started;
  }
  return undefined;
}
