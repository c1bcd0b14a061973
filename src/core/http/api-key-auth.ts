import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { unauthorizedError } from '../errors.js';
import { sendError } from './error-handler.js';
import { namedPlugin } from './named-plugin.js';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Browsers cannot set headers on a WebSocket: OpenAI's clients send the key as a subprotocol. */
const WEBSOCKET_KEY_PROTOCOL = 'openai-insecure-api-key.';

function presentedKey(request: FastifyRequest): string {
  const header = request.headers.authorization ?? '';
  if (header.startsWith('Bearer ')) return header.slice(7).trim();
  if (request.headers.upgrade?.toLowerCase() !== 'websocket') return '';
  const protocols = String(request.headers['sec-websocket-protocol'] ?? '').split(',');
  const offered = protocols.map((p) => p.trim()).find((p) => p.startsWith(WEBSOCKET_KEY_PROTOCOL));
  return offered?.slice(WEBSOCKET_KEY_PROTOCOL.length) ?? '';
}

/**
 * The Bearer check (or the WebSocket subprotocol form), for every route of the context that registers it (the service's
 * protected routes); the public context never registers it. Constant time: hashing
 * first makes the lengths equal.
 */
export const apiKeyAuth = namedPlugin('api-key-auth', (app, options: { apiKey: string }) => {
  const expected = digest(options.apiKey);
  app.addHook('onRequest', async (request, reply) => {
    if (!timingSafeEqual(digest(presentedKey(request)), expected))
      return sendError(reply, unauthorizedError());
  });
});
