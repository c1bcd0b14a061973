import type { ServiceApp } from './service-app-type.js';

export interface ListedModel {
  readonly id: string;
  readonly [field: string]: unknown;
}

/**
 * `GET /v1/audio/models`, as Open WebUI reads it to fill its model picker: `models`
 * (what it reads) and `data` (the OpenAI list shape), the same entries in both.
 * Open unless LISTINGS_REQUIRE_API_KEY: the client sends no key on this GET.
 */
export function registerAudioModelListing(
  app: ServiceApp,
  listModels: () => Promise<readonly ListedModel[]>,
  requireApiKey: boolean,
): void {
  app.get('/v1/audio/models', { config: { open: !requireApiKey } }, async () => {
    const models = await listModels();
    return { object: 'list', models, data: models };
  });
}
