import { Redis, type RedisOptions } from 'ioredis';
import { errorMessage, serviceUnavailableError, type VoiceStackError } from '../core/errors.js';

/** REDIS_URL without a password, for messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return 'the REDIS_URL';
  }
}

/**
 * A worker's connection: BullMQ requires `maxRetriesPerRequest: null` for the blocking
 * commands of a worker, and a worker should wait out a Redis restart, not fail its jobs.
 */
export function workerConnection(url: string, name: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, connectionName: name });
}

/**
 * An API node's connection fails fast: a request must hear "Redis is unreachable" in
 * seconds, not hang in the offline queue while the synchronous routes keep working.
 */
export function apiConnection(url: string, name: string): Redis {
  const options: RedisOptions = {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 5000,
    connectTimeout: 3000,
    // Keep trying in the background so the routes come back once Redis does.
    retryStrategy: (times) => Math.min(200 * times, 2000),
  };
  return new Redis(url, options);
}

/** The 503 a jobs route answers when Redis cannot be reached. */
export function redisUnreachableError(url: string, cause?: unknown): VoiceStackError {
  const detail = cause === undefined ? 'not connected' : errorMessage(cause);
  return serviceUnavailableError(
    `Transcription jobs are unavailable: Redis at ${redactRedisUrl(url)} is unreachable (${detail}). ` +
      'The synchronous /v1/audio/transcriptions keeps working.',
  );
}

export function redisNotConfiguredError(): VoiceStackError {
  return serviceUnavailableError(
    'Transcription jobs are not enabled: set REDIS_URL (e.g. redis://localhost:6379) to use /v1/audio/transcriptions/jobs.',
  );
}
