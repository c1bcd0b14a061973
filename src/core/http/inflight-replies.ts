import type { FastifyReply } from 'fastify';
import type { VoiceStackError } from '../errors.js';
import { sendError } from './error-handler.js';
import { namedPlugin } from './named-plugin.js';
import type { ServiceApp } from './service-app-type.js';

/** Replies not yet finished, per app: the end of a drain answers them before cutting sockets. */
const inflight = new WeakMap<ServiceApp, Set<FastifyReply>>();

export const inflightReplies = namedPlugin('inflight-replies', (app) => {
  const replies = new Set<FastifyReply>();
  inflight.set(app, replies);
  app.addHook('onRequest', async (_request, reply) => {
    replies.add(reply);
    // `close` covers every end: finished, aborted by the client, destroyed.
    reply.raw.once('close', () => replies.delete(reply));
  });
});

/**
 * Answers every request whose response has not started with `error` (a 503 with
 * Retry-After), so that cutting the sockets next drops no client without a word.
 * Resolves when those responses have been flushed or `flushMs` has passed.
 */
export async function answerUnfinished(
  app: ServiceApp,
  error: VoiceStackError,
  flushMs: number,
): Promise<number> {
  const pending = [...(inflight.get(app) ?? [])].filter((reply) => !reply.sent && !reply.raw.headersSent);
  const flushed = pending.map(
    (reply) => new Promise<void>((resolve) => reply.raw.once('close', resolve).once('finish', resolve)),
  );
  for (const reply of pending) sendError(reply, error);
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, flushMs);
  });
  await Promise.race([Promise.all(flushed), cap]);
  clearTimeout(timer);
  return pending.length;
}
