import type { PreparedRequest, ServiceTarget } from './service-target.js';

/** `GET <path>` with nothing to measure: the generator's own ceiling. */
export function healthTarget(baseUrl: string, path = '/health'): ServiceTarget {
  const request: PreparedRequest = {
    method: 'GET',
    path,
    headers: undefined,
    body: undefined,
    audioSeconds: undefined,
  };
  return {
    name: 'health',
    baseUrl,
    healthPath: undefined,
    keepsBody: false,
    request: () => request,
    audioSecondsFromResponse: () => undefined,
  };
}
