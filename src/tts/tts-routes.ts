import { Type } from 'typebox';
import { AUDIO_FORMATS, type AudioFormat, contentTypeFor } from '../audio/encode.js';
import { invalidParameterError } from '../core/errors.js';
import { clientAbortSignal } from '../core/http/client-abort.js';
import { textOrBinary } from '../core/http/response-schemas.js';
import type { ServiceApp } from '../core/http/service-app-type.js';
import type { ServiceRuntime } from '../core/runtime/service-runtime.js';
import type { TtsSettings } from '../core/settings.js';
import type { TtsEngine } from './engines/tts-engine.js';
import { DEFAULT_VOICE_NAME, engineVoiceFor, isOpenAiVoice, OPENAI_VOICES } from './openai-voices.js';
import { type SpeechJob, type StreamFormat, streamSpeech, synthesizeWhole } from './speech-stream.js';
import { chunkText } from './text-chunker.js';

/** OpenAI's model names, accepted as aliases of the configured engine. */
const OPENAI_TTS_MODELS = ['tts-1', 'tts-1-hd', 'gpt-4o-mini-tts'];

export const MIN_SPEED = 0.25;
export const MAX_SPEED = 4;

const SpeechBody = Type.Object({
  model: Type.Optional(Type.String({ maxLength: 256, description: 'tts-1, tts-1-hd or the engine name' })),
  input: Type.String({ description: 'Text to speak (at most MAX_TEXT_CHARS characters)' }),
  voice: Type.Optional(
    Type.Union([
      Type.String({ maxLength: 128, description: 'Engine voice id, an OpenAI voice name or `default`' }),
      Type.Object({ id: Type.String({ maxLength: 128 }) }, { description: 'The newer OpenAI shape' }),
    ]),
  ),
  response_format: Type.Optional(Type.Enum(AUDIO_FORMATS)),
  speed: Type.Optional(Type.Number({ minimum: MIN_SPEED, maximum: MAX_SPEED })),
  instructions: Type.Optional(Type.String()),
  stream_format: Type.Optional(
    Type.Enum(['audio', 'sse'], {
      description: 'audio: chunked audio sent sentence by sentence; sse: base64 audio in server-sent events',
    }),
  ),
});

/** Formats that a player can start on before the end arrives: streamed unless asked otherwise. */
const STREAMED_BY_DEFAULT: ReadonlySet<AudioFormat> = new Set(['pcm', 'mp3', 'opus']);

function streamMode(format: AudioFormat, requested: StreamFormat | undefined): StreamFormat | undefined {
  return requested ?? (STREAMED_BY_DEFAULT.has(format) ? 'audio' : undefined);
}

type RequestedVoice = string | { id: string } | undefined;

/**
 * The engine voice a request names. An OpenAI name whose mapped voice is not on this
 * host (a Kokoro style file not pulled) speaks with the configured voice instead of
 * failing: clients send these names without knowing what is installed.
 */
export async function resolveVoice(engine: TtsEngine, requested: RequestedVoice): Promise<string> {
  const name = typeof requested === 'object' ? requested.id : requested;
  const fallback = engine.voices.defaultVoice();
  if (name === undefined || name === '' || name.toLowerCase() === DEFAULT_VOICE_NAME) return fallback;
  const lower = name.toLowerCase();
  if (isOpenAiVoice(lower)) {
    const mapped = engineVoiceFor(engine.describe().engine, lower, fallback);
    return (await isUsable(engine, mapped)) ? mapped : fallback;
  }
  if (await engine.voices.has(name)) return name;
  throw invalidParameterError('voice', `unknown voice '${name}'; GET /v1/audio/voices lists them`);
}

async function isUsable(engine: TtsEngine, voice: string): Promise<boolean> {
  if (!(await engine.voices.has(voice))) return false;
  return engine.voices.assertReady(voice).then(
    () => true,
    () => false,
  );
}

async function openAiVoiceMap(engine: TtsEngine): Promise<Record<string, string>> {
  const entries = await Promise.all(
    [DEFAULT_VOICE_NAME, ...OPENAI_VOICES].map(async (name) => [name, await resolveVoice(engine, name)]),
  );
  return Object.fromEntries(entries);
}

/** The schema already refuses non-numbers and NaN/±Infinity; this keeps the engine safe from any caller. */
function checkedSpeed(speed: number | undefined): number {
  if (speed === undefined) return 1;
  if (!Number.isFinite(speed) || speed < MIN_SPEED || speed > MAX_SPEED) {
    throw invalidParameterError('speed', `must be a number between ${MIN_SPEED} and ${MAX_SPEED}`);
  }
  return speed;
}

/**
 * The speech body is JSON text, so it needs no upload-sized limit: six bytes per
 * character covers any JSON escape, plus room for the other fields. A small cap
 * means an oversized body is refused after kilobytes, never buffered to 100 MB.
 */
function speechBodyLimitBytes(maxTextChars: number, maxUploadMb: number): number {
  return Math.min(maxUploadMb * 1024 * 1024, maxTextChars * 6 + 64 * 1024);
}

/** The model ids the TTS service answers to: OpenAI's names and the engine's own. */
export function ttsModelIds(engineName: string): string[] {
  return [...OPENAI_TTS_MODELS, engineName];
}

const SpeechResponse = {
  200: textOrBinary(
    'The audio (stream_format=audio), or speech.audio.delta events (stream_format=sse)',
    [...new Set([...AUDIO_FORMATS.map((f) => contentTypeFor(f).split(';')[0] ?? ''), 'text/event-stream'])],
    true,
  ),
};

const VoiceList = Type.Object({
  engine: Type.String(),
  default_voice: Type.String(),
  openai_voice_aliases: Type.Record(Type.String(), Type.String()),
  voices: Type.Array(
    Type.Object(
      {
        id: Type.String(),
        name: Type.String(),
        language: Type.String(),
        gender: Type.Optional(Type.String()),
        cached: Type.Boolean(),
      },
      { additionalProperties: true },
    ),
  ),
});

/** `/v1/audio/speech`. It knows the engine interface, never an engine. */
export function registerSpeechRoutes(app: ServiceApp, runtime: ServiceRuntime<TtsEngine, TtsSettings>) {
  const engine = runtime.slot.engine;
  const settings = runtime.serviceSettings;

  app.post(
    '/v1/audio/speech',
    {
      schema: { body: SpeechBody, response: SpeechResponse },
      bodyLimit: speechBodyLimitBytes(settings.maxTextChars, runtime.settings.maxUploadSizeMb),
      onRequest: async () => runtime.gate.admit(),
    },
    async (request, reply) => {
      const body = request.body;
      const text = body.input.trim();
      if (text.length === 0) throw invalidParameterError('input', 'must not be empty');
      if (body.input.length > settings.maxTextChars) {
        throw invalidParameterError(
          'input',
          `is longer than MAX_TEXT_CHARS (${settings.maxTextChars} characters)`,
        );
      }
      const voice = await resolveVoice(engine, body.voice);
      // A voice that still has to be downloaded is refused before it takes a slot.
      await engine.voices.assertReady(voice);
      const job: SpeechJob = {
        chunks: chunkText(text),
        voice,
        speed: checkedSpeed(body.speed),
        format: body.response_format ?? 'mp3',
        maxSeconds: settings.maxSpeechSeconds,
      };
      const mode = streamMode(job.format, body.stream_format);
      const callerSignal = clientAbortSignal(request, reply);
      if (mode) {
        const stream = await streamSpeech(runtime, callerSignal, job, mode, request.log);
        return reply
          .type(stream.contentType)
          .header('x-sample-rate', String(stream.sampleRate))
          .header('cache-control', 'no-cache')
          .send(stream.body);
      }
      const encoded = await synthesizeWhole(runtime, callerSignal, job);
      return reply
        .type(contentTypeFor(job.format))
        .header('x-sample-rate', String(encoded.sampleRate))
        .send(encoded.body);
    },
  );
}

/** `/v1/audio/voices`: a listing, open unless LISTINGS_REQUIRE_API_KEY (Open WebUI sends no key). */
export function registerVoiceListing(app: ServiceApp, runtime: ServiceRuntime<TtsEngine, TtsSettings>) {
  const engine = runtime.slot.engine;
  app.get('/v1/audio/voices', { schema: { response: { 200: VoiceList } } }, async () => {
    const voices = await engine.voices.list();
    return {
      engine: engine.describe().engine,
      default_voice: engine.voices.defaultVoice(),
      openai_voice_aliases: await openAiVoiceMap(engine),
      voices: [...voices],
    };
  });
}
