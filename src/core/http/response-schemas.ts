/**
 * Response schemas shared by both services. Fastify serialises JSON replies with them
 * and @fastify/swagger publishes them in /openapi.json, so the document describes what
 * clients really get. Objects that carry more than they document (a verbose transcript,
 * a model entry) allow additional properties: a schema must never drop a field a client
 * reads.
 */
import { type TSchema, Type } from 'typebox';
import { namedPlugin } from './named-plugin.js';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** The `{"error": …}` envelope of every refusal (errorEnvelope in error-handler.ts). */
export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      message: Type.String(),
      type: Type.String(),
      code: Type.String(),
      param: Nullable(Type.String()),
    }),
  },
  { description: 'An error: a stable `code`, an OpenAI-style `type`, and the parameter at fault' },
);

/** A body that is not JSON: audio, subtitles, plain text, Prometheus metrics. */
export function textOrBinary(description: string, contentTypes: readonly string[], binary = false) {
  const schema = binary ? { type: 'string', format: 'binary' } : { type: 'string' };
  return {
    description,
    content: Object.fromEntries(contentTypes.map((type) => [type, { schema }])),
  };
}

/** One reply that may be JSON or text, chosen by the request (response_format, output). */
export function jsonOrText(description: string, json: TSchema, textTypes: readonly string[]) {
  return {
    description,
    content: {
      'application/json': { schema: json },
      ...Object.fromEntries(textTypes.map((type) => [type, { schema: { type: 'string' } }])),
    },
  };
}

/** An OpenAI model object; services add their own fields (cached, loaded, size_bytes, …). */
export const ModelObject = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('model'),
    created: Type.Integer(),
    owned_by: Type.String(),
  },
  { additionalProperties: true },
);

export const ModelList = Type.Object({ object: Type.Literal('list'), data: Type.Array(ModelObject) });

/**
 * Every route answers its errors with the envelope: added here, once, to each route
 * that has not declared that status itself (like /ready's own 503 body). Must be
 * registered before the routes, as @fastify/swagger and the serialiser read the
 * schema when the route is added.
 */
export const errorResponses = namedPlugin('error-responses', (app) => {
  app.addHook('onRoute', (route) => {
    if (route.schema?.hide === true) return;
    const response = (route.schema?.response ?? {}) as Record<string, unknown>;
    route.schema = {
      ...route.schema,
      response: { '4xx': ErrorBody, '5xx': ErrorBody, ...response },
    };
  });
});
