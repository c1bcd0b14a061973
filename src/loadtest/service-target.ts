/** One HTTP request ready to send, built once and reused where possible. */
export interface PreparedRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string> | undefined;
  body: Buffer | string | undefined;
  /** Audio seconds the request carries (ASR uploads); known before sending. */
  audioSeconds: number | undefined;
}

/**
 * What the runner drives: a base URL, the n-th request to send, and how to read the
 * amount of audio out of a response. The runner knows nothing about speech.
 */
export interface ServiceTarget {
  name: string;
  baseUrl: string;
  /** Path of the `/health/detailed` endpoint, or undefined to skip sampling. */
  healthPath: string | undefined;
  /** Whether audioSecondsFromResponse needs the body kept in memory. */
  keepsBody: boolean;
  request(index: number): PreparedRequest;
  audioSecondsFromResponse(body: Buffer, request: PreparedRequest): number | undefined;
}

export function authorization(apiKey: string | undefined): Record<string, string> {
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
}
