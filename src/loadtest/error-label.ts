import { errorMessage } from '../core/errors.js';

const MAX_MESSAGE_LENGTH = 200;

/**
 * `HTTP 503: <message from the error body>`, the form the summary groups by. The
 * message is the server's `error.message`, so the person reading sees what to act on.
 */
export function httpErrorLabel(status: number, body: Buffer): string {
  const message = errorMessageFromBody(body);
  return message ? `HTTP ${status}: ${message}` : `HTTP ${status}`;
}

function errorMessageFromBody(body: Buffer): string | undefined {
  const text = body.toString('utf8').trim();
  if (text === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    const message = findMessage(parsed);
    if (message) return clip(message);
  } catch {
    // Not JSON: fall through to the first line of the text.
  }
  return clip(text.split('\n')[0] ?? text);
}

function findMessage(parsed: unknown): string | undefined {
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { error, message, detail } = parsed as Record<string, unknown>;
  if (typeof error === 'object' && error !== null) {
    const inner = (error as Record<string, unknown>).message;
    if (typeof inner === 'string') return inner;
  }
  if (typeof error === 'string') return error;
  if (typeof message === 'string') return message;
  if (typeof detail === 'string') return detail;
  return undefined;
}

function clip(text: string): string {
  return text.length > MAX_MESSAGE_LENGTH ? `${text.slice(0, MAX_MESSAGE_LENGTH)}…` : text;
}

export function timeoutLabel(timeoutMs: number): string {
  return `Timeout after ${Number((timeoutMs / 1000).toFixed(3))}s`;
}

/** `Connection error: ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:5002)`. */
export function connectionErrorLabel(error: unknown): string {
  const root = rootCause(error);
  const code = (root as { code?: unknown }).code;
  const message = errorMessage(root);
  return typeof code === 'string'
    ? `Connection error: ${code} (${clip(message)})`
    : `Connection error: ${clip(message)}`;
}

/** The first error in the chain that names a system code, else the deepest one. */
function rootCause(error: unknown): unknown {
  let current = error;
  for (let depth = 0; depth < 8; depth++) {
    if (typeof (current as { code?: unknown } | null)?.code === 'string') return current;
    // A refused connection can surface as an AggregateError of the attempted addresses.
    if (current instanceof AggregateError && current.errors.length > 0) {
      current = current.errors[0];
      continue;
    }
    const cause = (current as { cause?: unknown } | null)?.cause;
    if (cause === undefined || cause === null) break;
    current = cause;
  }
  return current;
}
