import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  ErrorKinds,
  fileTooLargeError,
  invalidParameterError,
  isVoiceStackError,
  notFoundError,
  VoiceStackError,
} from '../errors.js';
import type { ServiceMetrics } from '../metrics.js';
import { namedPlugin } from './named-plugin.js';
import type { ServiceApp } from './service-app-type.js';

interface ValidationIssue {
  readonly instancePath?: string;
  readonly message?: string;
  readonly keyword?: string;
  readonly params?: Record<string, unknown>;
}

/** Names the parameter an ajv issue is about: `/speed` → `speed`. */
function paramOf(issue: ValidationIssue, context: string | undefined): string {
  const missing = issue.params?.missingProperty ?? issue.params?.additionalProperty;
  if (typeof missing === 'string') return missing;
  const path = (issue.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
  return path || (context ?? 'body');
}

function describeIssue(issue: ValidationIssue): string {
  const allowed = issue.params?.allowedValues;
  if (Array.isArray(allowed)) return `must be one of ${allowed.map(String).join(', ')}`;
  if (issue.keyword === 'additionalProperties') return 'is not a known parameter';
  if (issue.keyword === 'required') return 'is required';
  return issue.message ?? 'is invalid';
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set once the body is parsed and validated: errors before it are the request's own. */
    handlerStarted?: boolean;
  }
}

/** Framework and multipart refusals that are the client's mistake, by their stable codes. */
const CLIENT_ERRORS: Record<string, () => VoiceStackError> = {
  FST_FILES_LIMIT: () => invalidParameterError('file', 'only one file may be uploaded per request'),
  FST_FIELDS_LIMIT: () => invalidParameterError('body', 'has too many form fields'),
  FST_PARTS_LIMIT: () => invalidParameterError('body', 'has too many form parts'),
  FST_PROTO_VIOLATION: () => invalidParameterError('body', 'uses a reserved field name'),
  FST_INVALID_MULTIPART_CONTENT_TYPE: () => invalidParameterError('body', 'must be multipart/form-data'),
  FST_ERR_MAX_PARAM_LENGTH: () => invalidParameterError('id', 'is too long'),
};

export interface ErrorContext {
  readonly maxUploadMb: number;
  readonly routeBodyLimitBytes: number | undefined;
  /** A multipart body failed while it was being parsed (before the route ran). */
  readonly inMultipartParsing?: boolean;
}

/** Turns anything thrown into one of the catalogue's errors. */
export function toVoiceStackError(error: unknown, limits: ErrorContext): VoiceStackError {
  const { maxUploadMb, routeBodyLimitBytes } = limits;
  if (isVoiceStackError(error)) return error;
  const fastifyError = error as Partial<FastifyError> & { validation?: ValidationIssue[] };
  const issue = fastifyError.validation?.[0];
  if (issue !== undefined) {
    return invalidParameterError(paramOf(issue, fastifyError.validationContext), describeIssue(issue));
  }
  const clientError = fastifyError.code === undefined ? undefined : CLIENT_ERRORS[fastifyError.code];
  if (clientError) return clientError();
  if (fastifyError.code === 'FST_REQ_FILE_TOO_LARGE') return fileTooLargeError(maxUploadMb);
  // The multipart parser's own errors carry no code ("Boundary not found", "Unexpected end
  // of multipart data", "Malformed part header"): any of them is a body the client framed wrong.
  if (limits.inMultipartParsing && fastifyError.statusCode === undefined) {
    return invalidParameterError('body', 'the multipart/form-data body is malformed or incomplete');
  }
  if (fastifyError.statusCode === 413) {
    const routeLimitMb = (routeBodyLimitBytes ?? Number.POSITIVE_INFINITY) / (1024 * 1024);
    // A JSON route caps its body far below the upload limit (TTS text is short).
    return routeLimitMb < maxUploadMb
      ? fileTooLargeError(routeLimitMb, 'the request body limit of this endpoint, from MAX_TEXT_CHARS')
      : fileTooLargeError(maxUploadMb);
  }
  const status = fastifyError.statusCode ?? 500;
  if (status >= 400 && status < 500 && typeof fastifyError.message === 'string') {
    return new VoiceStackError(ErrorKinds.invalidParameter, `Invalid request: ${fastifyError.message}`);
  }
  return new VoiceStackError(ErrorKinds.internal, 'Internal server error: the failure was logged.', {
    cause: error,
  });
}

/**
 * The one place errors become responses: `{"error": {message, type, code}}`, the
 * kind's status, `Retry-After` when there is an estimate, and a log line with the
 * reason. Stack traces and paths never reach the body.
 */
export const errorHandling = namedPlugin(
  'error-handling',
  (app, { metrics, maxUploadMb }: { metrics: ServiceMetrics; maxUploadMb: number }) => {
    app.setErrorHandler((error, request, reply) => {
      const mapped = toVoiceStackError(error, errorContext(request, maxUploadMb));
      logError(request, mapped, error);
      if (mapped.status >= 400 && mapped.status !== 404) metrics.rejections.inc({ reason: mapped.reason });
      return sendError(reply, mapped);
    });
    app.addHook('preHandler', async (request) => {
      request.handlerStarted = true;
      // Ajv coerces the strings "Infinity" and "1e400" into numbers after its finite check,
      // so the last word on every route's numbers is here: none may be NaN or ±Infinity.
      for (const [source, value] of [
        ['query', request.query],
        ['body', request.body],
        ['params', request.params],
      ] as const) {
        const param = nonFiniteParam(value, source, 0);
        if (param !== undefined) throw invalidParameterError(param, 'must be a finite number');
      }
    });
    app.setNotFoundHandler((request, reply) =>
      sendError(reply, notFoundError(`${request.method} ${request.url}`)),
    );
    registerOverLimitLinger(app);
  },
);

/** The name of the first NaN or ±Infinity in a parsed request part (a few levels deep). */
function nonFiniteParam(value: unknown, name: string, depth: number): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : name;
  if (depth > 4 || typeof value !== 'object' || value === null) return undefined;
  for (const [key, item] of Object.entries(value)) {
    const found = nonFiniteParam(item, depth === 0 ? key : `${name}.${key}`, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

function errorContext(request: FastifyRequest, maxUploadMb: number): ErrorContext {
  const contentType = String(request.headers['content-type'] ?? '');
  return {
    maxUploadMb,
    routeBodyLimitBytes: request.routeOptions.bodyLimit,
    inMultipartParsing: request.handlerStarted !== true && /^multipart\//i.test(contentType),
  };
}

/** Fastify's router refusals (a bad URL, a too-long parameter) in the same envelope as the rest. */
export function frameworkErrorHandler(maxUploadMb: number) {
  return (error: Error, request: FastifyRequest, reply: FastifyReply) =>
    sendError(reply, toVoiceStackError(error, errorContext(request, maxUploadMb)));
}

/** How long the rest of an over-limit body is read and dropped before the socket is cut. */
const LINGER_AFTER_413_MS = 2000;

/**
 * After a 413 the rest of the body is still arriving. Closing at once would make the
 * kernel answer it with a reset, which destroys the 413 before the client reads it;
 * so the socket keeps reading (and discarding, nothing is held) for a short linger,
 * as nginx's lingering_close does, and is then cut off whatever is left.
 */
export function registerOverLimitLinger(app: ServiceApp): void {
  // Fastify asks to close after a body-parser error; Node would then shut the socket
  // as soon as the 413 is written and the reset race above begins.
  app.addHook('onSend', async (_request, reply) => {
    if (reply.statusCode === 413) reply.header('connection', 'keep-alive');
  });
  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode !== 413 || request.raw.complete) return;
    const socket = request.raw.socket;
    const timer = setTimeout(() => socket.destroy(), LINGER_AFTER_413_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });
}

/** The `{"error": …}` body every refusal carries. */
export function errorEnvelope(error: VoiceStackError) {
  return {
    error: { message: error.message, type: error.type, code: error.code, param: error.param ?? null },
  };
}

export function sendError(reply: FastifyReply, error: VoiceStackError): FastifyReply {
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.code(error.status).type('application/json; charset=utf-8').send(errorEnvelope(error));
}

function logError(request: FastifyRequest, mapped: VoiceStackError, original: unknown): void {
  const fields = { code: mapped.code, reason: mapped.reason, status: mapped.status };
  if (mapped.status >= 500 && mapped.status !== 503) {
    request.log.error({ ...fields, err: original }, mapped.message);
  } else {
    request.log.warn(fields, `request rejected: ${mapped.message}`);
  }
}
