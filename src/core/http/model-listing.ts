import { Type } from 'typebox';
import { notFoundError } from '../errors.js';
import { namedPlugin } from './named-plugin.js';
import { ModelList, ModelObject } from './response-schemas.js';

export interface ListedModel {
  readonly id: string;
  readonly object: 'model';
  readonly created: number;
  readonly owned_by: string;
  readonly [field: string]: unknown;
}

/** The OpenAI model object both services list; each adds its own fields. */
export function modelObject(id: string, fields: Record<string, unknown> = {}): ListedModel {
  return { id, object: 'model', created: 0, owned_by: 'voice-stack', ...fields };
}

export interface ModelListing {
  readonly listModels: () => Promise<readonly ListedModel[]>;
  /** More paths answering the same list (the ASR service's /bazarr/models). */
  readonly listAliases?: readonly string[];
}

/** `/v1/models` and `/v1/models/{id}` as OpenAI answers them, from the service's one list. */
export const modelRoutes = namedPlugin('model-routes', (app, { listModels, listAliases }: ModelListing) => {
  for (const url of ['/v1/models', ...(listAliases ?? [])]) {
    app.get(url, { schema: { response: { 200: ModelList } } }, async () => ({
      object: 'list' as const,
      data: [...(await listModels())],
    }));
  }
  app.get(
    '/v1/models/:id',
    { schema: { params: Type.Object({ id: Type.String() }), response: { 200: ModelObject } } },
    async (request) => {
      const model = (await listModels()).find((m) => m.id === request.params.id);
      if (model === undefined) throw notFoundError(`model '${request.params.id}'`);
      return model;
    },
  );
});

const AudioModelList = Type.Object({
  object: Type.Literal('list'),
  models: Type.Array(ModelObject),
  data: Type.Array(ModelObject),
});

/**
 * `/v1/audio/models` as Open WebUI reads it to fill its model picker: `models` (what
 * it reads) and `data` (the OpenAI shape), the same entries. A listing: open unless
 * LISTINGS_REQUIRE_API_KEY, as Open WebUI sends no key on it.
 */
export const audioModelListing = namedPlugin('audio-model-listing', (app, { listModels }: ModelListing) => {
  app.get('/v1/audio/models', { schema: { response: { 200: AudioModelList } } }, async () => {
    const models = [...(await listModels())];
    return { object: 'list' as const, models, data: models };
  });
});
