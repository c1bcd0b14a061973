/**
 * The one catalogue of errors Voice Stack throws on purpose. Every one extends
 * AppError and carries a stable `code` that logs, metrics and scripts match on.
 * Those a client can see are VoiceStackErrors, which add an HTTP status and an
 * OpenAI-style error `type`; the single Fastify error handler
 * (core/http/error-handler.ts) is the only place that turns them into responses.
 * The others (settings, processes, ffmpeg, downloads, model files) are mapped to a
 * VoiceStackError by the layer that knows what they mean to a request.
 */

/** The base of every error thrown on purpose: a message for people and a code for programs. */
export class AppError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

export type OpenAiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'server_error'
  | 'service_unavailable';

export interface ErrorKind {
  readonly code: string;
  readonly status: number;
  readonly type: OpenAiErrorType;
  /** The label used for this error in the rejection metrics. */
  readonly reason: string;
}

export class VoiceStackError extends AppError {
  readonly status: number;
  readonly type: OpenAiErrorType;
  readonly reason: string;
  /** Seconds a client should wait before retrying (sets `Retry-After`). */
  readonly retryAfterSeconds: number | undefined;
  /** The request parameter this error is about, when there is one. */
  readonly param: string | undefined;

  constructor(
    kind: ErrorKind,
    message: string,
    options: { retryAfterSeconds?: number; param?: string; cause?: unknown } = {},
  ) {
    super(kind.code, message, options);
    this.status = kind.status;
    this.type = kind.type;
    this.reason = kind.reason;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.param = options.param;
  }
}

function kind(code: string, status: number, type: OpenAiErrorType, reason: string): ErrorKind {
  return { code, status, type, reason };
}

export const ErrorKinds = {
  queueFull: kind('VS_ERR_QUEUE_FULL', 503, 'service_unavailable', 'queue_full'),
  resourceThreshold: kind('VS_ERR_RESOURCE_THRESHOLD', 503, 'service_unavailable', 'resource_threshold'),
  queueTimeout: kind('VS_ERR_QUEUE_TIMEOUT', 503, 'service_unavailable', 'queue_timeout'),
  shuttingDown: kind('VS_ERR_SHUTTING_DOWN', 503, 'service_unavailable', 'shutting_down'),
  fileTooLarge: kind('VS_ERR_FILE_TOO_LARGE', 413, 'invalid_request_error', 'file_too_large'),
  audioDecode: kind('VS_ERR_AUDIO_DECODE', 400, 'invalid_request_error', 'audio_decode'),
  invalidParameter: kind('VS_ERR_INVALID_PARAMETER', 400, 'invalid_request_error', 'invalid_parameter'),
  modelUnavailable: kind('VS_ERR_MODEL_UNAVAILABLE', 503, 'service_unavailable', 'model_unavailable'),
  serviceUnavailable: kind('VS_ERR_SERVICE_UNAVAILABLE', 503, 'service_unavailable', 'service_unavailable'),
  unauthorized: kind('VS_ERR_UNAUTHORIZED', 401, 'authentication_error', 'unauthorized'),
  notFound: kind('VS_ERR_NOT_FOUND', 404, 'not_found_error', 'not_found'),
  conflict: kind('VS_ERR_CONFLICT', 409, 'invalid_request_error', 'conflict'),
  headersTooLarge: kind('VS_ERR_HEADERS_TOO_LARGE', 431, 'invalid_request_error', 'headers_too_large'),
  requestTimeout: kind('VS_ERR_REQUEST_TIMEOUT', 408, 'invalid_request_error', 'request_timeout'),
  clientClosed: kind('VS_ERR_CLIENT_CLOSED', 499, 'invalid_request_error', 'client_closed'),
  upgradeRequired: kind('VS_ERR_UPGRADE_REQUIRED', 426, 'invalid_request_error', 'upgrade_required'),
  originNotAllowed: kind('VS_ERR_ORIGIN_NOT_ALLOWED', 403, 'invalid_request_error', 'origin_not_allowed'),
  engineFailed: kind('VS_ERR_ENGINE_FAILED', 500, 'server_error', 'engine_failed'),
  internal: kind('VS_ERR_INTERNAL', 500, 'server_error', 'internal'),
  protocol: kind('VS_ERR_PROTOCOL', 400, 'invalid_request_error', 'protocol'),
} as const;

export function queueFullError(retryAfterSeconds: number): VoiceStackError {
  return new VoiceStackError(
    ErrorKinds.queueFull,
    'Too many concurrent requests: every inference slot is busy and the wait queue is full. Retry later.',
    { retryAfterSeconds },
  );
}

export function resourceThresholdError(
  resource: 'memory' | 'swap' | 'disk',
  percent: number,
  thresholdPercent: number,
  retryAfterSeconds: number,
): VoiceStackError {
  const rounded = Math.round(percent);
  return new VoiceStackError(
    ErrorKinds.resourceThreshold,
    `Resource threshold exceeded (${resource}: ${rounded}%): the limit is ${thresholdPercent}%, so new work is refused until usage drops.`,
    { retryAfterSeconds },
  );
}

export function queueTimeoutError(waitedSeconds: number): VoiceStackError {
  return new VoiceStackError(
    ErrorKinds.queueTimeout,
    `Timed out waiting for a free slot after ${waitedSeconds}s (QUEUE_TIMEOUT_SECONDS).`,
  );
}

export function shuttingDownError(): VoiceStackError {
  return new VoiceStackError(ErrorKinds.shuttingDown, 'Server is shutting down: not accepting new work.', {
    retryAfterSeconds: 5,
  });
}

/** A queued or running request the drain cannot finish before the grace period ends. */
export function drainCutError(retryAfterSeconds: number): VoiceStackError {
  return new VoiceStackError(
    ErrorKinds.shuttingDown,
    'Server is shutting down: this request cannot finish within SHUTDOWN_GRACE_SECONDS. Retry on another instance or later.',
    { retryAfterSeconds },
  );
}

/** The client sent the request too slowly: `setting` names the bound it crossed. */
export function requestTimeoutError(detail: string, setting: string): VoiceStackError {
  return new VoiceStackError(ErrorKinds.requestTimeout, `Request timed out: ${detail} (${setting}).`);
}

export function fileTooLargeError(limitMb: number, setting = 'MAX_UPLOAD_SIZE_MB'): VoiceStackError {
  const shown = limitMb >= 1 ? String(Math.round(limitMb * 10) / 10) : limitMb.toFixed(3);
  return new VoiceStackError(
    ErrorKinds.fileTooLarge,
    `File too large: the limit is ${shown} MB (${setting}).`,
  );
}

export function audioDecodeError(detail: string, cause?: unknown): VoiceStackError {
  return new VoiceStackError(ErrorKinds.audioDecode, `Could not decode audio: ${detail}`, { cause });
}

export function invalidParameterError(param: string, problem: string): VoiceStackError {
  return new VoiceStackError(ErrorKinds.invalidParameter, `Invalid parameter '${param}': ${problem}`, {
    param,
  });
}

export function modelUnavailableError(model: string, cause: string, error?: unknown): VoiceStackError {
  return new VoiceStackError(ErrorKinds.modelUnavailable, `Model '${model}' is unavailable: ${cause}`, {
    retryAfterSeconds: 30,
    cause: error,
  });
}

export function serviceUnavailableError(message: string): VoiceStackError {
  return new VoiceStackError(ErrorKinds.serviceUnavailable, message, { retryAfterSeconds: 60 });
}

export function unauthorizedError(): VoiceStackError {
  return new VoiceStackError(
    ErrorKinds.unauthorized,
    'Invalid API key: send it as "Authorization: Bearer <API_KEY>".',
  );
}

export function notFoundError(what: string): VoiceStackError {
  return new VoiceStackError(ErrorKinds.notFound, `Not found: ${what}`);
}

/** The request is fine but the thing it is about is in the wrong state (a job not finished yet). */
export function conflictError(message: string): VoiceStackError {
  return new VoiceStackError(ErrorKinds.conflict, message);
}

export function clientClosedError(): VoiceStackError {
  return new VoiceStackError(ErrorKinds.clientClosed, 'Client closed the request before it completed.');
}

/** A WebSocket endpoint asked for with plain HTTP. */
export function upgradeRequiredError(what: string): VoiceStackError {
  return new VoiceStackError(ErrorKinds.upgradeRequired, `Upgrade required: ${what}`);
}

/** A browser page from another site opening a WebSocket (browsers apply no CORS to them). */
export function originNotAllowedError(origin: string): VoiceStackError {
  return new VoiceStackError(
    ErrorKinds.originNotAllowed,
    `Origin not allowed: pages from ${origin.slice(0, 200)} may not open sessions here; add it to CORS_ORIGINS.`,
  );
}

export function engineFailedError(engine: string, detail: string, cause?: unknown): VoiceStackError {
  return new VoiceStackError(ErrorKinds.engineFailed, `Engine '${engine}' failed: ${detail}`, { cause });
}

/** A socket client broke its protocol's framing or sent an event out of order (Wyoming). */
export function protocolError(detail: string): VoiceStackError {
  return new VoiceStackError(ErrorKinds.protocol, `Protocol error: ${detail}`);
}

export function isVoiceStackError(error: unknown): error is VoiceStackError {
  return error instanceof VoiceStackError;
}

/**
 * What an engine throws when its work fails: the client's abort when there was one
 * (whatever the native side reported), a Voice Stack error as it is, and anything
 * else as this engine's failure.
 */
export function engineFailure(engine: string, error: unknown, signal: AbortSignal): VoiceStackError {
  if (signal.aborted) return clientClosedError();
  if (isVoiceStackError(error)) return error;
  return engineFailedError(engine, errorMessage(error), error);
}

/** What a thrown value says, whatever was thrown (an Error, a string, anything). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
