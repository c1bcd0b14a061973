import { createHash, timingSafeEqual } from 'node:crypto';
import { unauthorizedError } from '../errors.js';
import { sendError } from './error-handler.js';
import { namedPlugin } from './named-plugin.js';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * The Bearer check, for every route of the context that registers it (the service's
 * protected routes); the public context never registers it. Constant time: hashing
 * first makes the lengths equal.
 */
export const apiKeyAuth = namedPlugin('api-key-auth', (app, options: { apiKey: string }) => {
  const expected = digest(options.apiKey);
  app.addHook('onRequest', async (request, reply) => {
    const header = request.headers.authorization ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    if (!timingSafeEqual(digest(presented), expected)) return sendError(reply, unauthorizedError());
  });
});
