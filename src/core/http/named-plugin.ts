import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyPluginAsync, FastifyPluginOptions } from 'fastify';
import fp from 'fastify-plugin';
import type { ServiceApp } from './service-app-type.js';

/** The Fastify major every Voice Stack plugin is written against. */
const FASTIFY_MAJOR = '5.x';

/**
 * A Voice Stack HTTP piece as a named Fastify plugin. fastify-plugin lifts it out of
 * its own encapsulation: its hooks, handlers and routes belong to the context that
 * registers it, which is what chooses public or API-key-protected. The name makes
 * Fastify refuse a second registration in one context and names it in errors.
 */
export function namedPlugin<Options extends FastifyPluginOptions = Record<never, never>>(
  name: string,
  register: (app: ServiceApp, options: Options) => void | Promise<void>,
): FastifyPluginAsync<Options> {
  const plugin: FastifyPluginAsync<Options> = async (app: FastifyInstance, options: Options) =>
    register(app.withTypeProvider<TypeBoxTypeProvider>(), options);
  return fp(plugin, { name: `voice-stack-${name}`, fastify: FASTIFY_MAJOR });
}
