import { isVoiceStackError } from '../core/errors.js';
import type { ServiceMetrics } from '../core/metrics.js';

/** The `method` label of Wyoming requests in voice_stack_requests_total, beside GET and POST. */
const METHOD = 'WYOMING';

/**
 * Counts one Wyoming request in the service's HTTP series (requests by status, their
 * duration, rejections by reason), so /metrics shows Wyoming traffic with the rest.
 */
export async function metered<T>(metrics: ServiceMetrics, route: string, work: () => Promise<T>): Promise<T> {
  const endTimer = metrics.requestDuration.startTimer({ route, method: METHOD });
  try {
    const result = await work();
    metrics.requests.inc({ route, method: METHOD, status: '200' });
    return result;
  } catch (error) {
    countFailure(metrics, route, error);
    throw error;
  } finally {
    endTimer();
  }
}

/**
 * For the checks before a request's work (admission, parameters): a refusal is
 * counted as that request's answer; a pass counts nothing, the request is counted
 * when it is answered.
 */
export async function meteredRefusal<T>(
  metrics: ServiceMetrics,
  route: string,
  check: () => T | Promise<T>,
): Promise<T> {
  try {
    return await check();
  } catch (error) {
    countFailure(metrics, route, error);
    throw error;
  }
}

function countFailure(metrics: ServiceMetrics, route: string, error: unknown): void {
  const status = isVoiceStackError(error) ? error.status : 500;
  metrics.requests.inc({ route, method: METHOD, status: String(status) });
  if (isVoiceStackError(error) && status !== 499) metrics.rejections.inc({ reason: error.reason });
}
