/**
 * `GET /` on each service: a small page to try it by hand (ASR: the microphone through the
 * Realtime WebSocket, or a dropped file through stream=true; TTS: text to streamed speech).
 * Plain HTML, CSS and script in src/web/, no build step; read once at start-up from the
 * package (the container images copy src/web beside dist/). The page itself holds nothing
 * secret, so it is open; under API_KEY it asks for the key and sends it with each call.
 */
import { readFileSync } from 'node:fs';
import { textOrBinary } from '../core/http/response-schemas.js';
import type { ServiceApp } from '../core/http/service-app-type.js';

const WEB_DIR = new URL('../../../src/web/', import.meta.url);

const PAGES = { asr: 'asr-live.html', tts: 'tts-live.html' } as const;

/** The page with its style and the auth flag filled in. */
export function livePageHtml(service: keyof typeof PAGES, apiKeyRequired: boolean): string {
  const html = readFileSync(new URL(PAGES[service], WEB_DIR), 'utf8');
  const style = readFileSync(new URL('live.css', WEB_DIR), 'utf8');
  const script = readFileSync(new URL('live.js', WEB_DIR), 'utf8');
  return html
    .replace('/* live.css */', style)
    .replace('/* live.js */', script)
    .replace('{{AUTH}}', apiKeyRequired ? 'required' : 'none');
}

export function registerLivePage(
  app: ServiceApp,
  service: keyof typeof PAGES,
  apiKeyRequired: boolean,
): void {
  const html = livePageHtml(service, apiKeyRequired);
  app.get(
    '/',
    {
      schema: { response: { 200: textOrBinary('A page to try the service from a browser', ['text/html']) } },
    },
    async (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .send(html),
  );
}
