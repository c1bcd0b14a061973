import { Type } from 'typebox';
import { notFoundError } from '../errors.js';
import { ModelList, ModelObject } from './response-schemas.js';
import type { ServiceApp } from './service-app-type.js';

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

export interface ModelRoutesOptions {
  readonly listModels: () => Promise<readonly ListedModel[]>;
  /** LISTINGS_REQUIRE_API_KEY: otherwise /v1/audio/models is open (Open WebUI sends no key on it). */
  readonly requireApiKey: boolean;
  /** More paths answering the same list (the ASR service's /bazarr/models). */
  readonly listAliases?: readonly string[];
}

const AudioModelList = Type.Object({
  object: Type.Literal('list'),
  models: Type.Array(ModelObject),
  data: Type.Array(ModelObject),
});

/**
 * The model routes of a service, from its one list: `/v1/models` and `/v1/models/{id}`
 * as OpenAI answers them, and `/v1/audio/models` as Open WebUI reads it to fill its
 * model picker: `models` (what it reads) and `data` (the OpenAI shape), the same entries.
 */
export function registerModelRoutes(app: ServiceApp, options: ModelRoutesOptions): void {
  const { listModels } = options;
  for (const url of ['/v1/models', ...(options.listAliases ?? [])]) {
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
  app.get(
    '/v1/audio/models',
    { config: { open: !options.requireApiKey }, schema: { response: { 200: AudioModelList } } },
    async () => {
      const models = [...(await listModels())];
      return { object: 'list' as const, models, data: models };
    },
  );
}
