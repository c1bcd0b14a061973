import { readFile } from 'node:fs/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { decodeAudio, decodeRawPcm16 } from '../audio/decode.js';
import type { PcmAudio } from '../audio/pcm-audio.js';
import { durationSeconds } from '../audio/pcm-audio.js';
import { invalidParameterError } from '../core/errors.js';
import type { ServiceApp } from '../core/service-app.js';
import type { ServiceRuntime } from '../core/service-runtime.js';
import type { AsrEngine, AsrTask, TranscribeOptions, Transcript } from './engines/asr-engine.js';
import { languageName, normaliseLanguage } from './languages.js';
import {
  BAZARR_OUTPUTS,
  type FormattedTranscript,
  formatBazarr,
  formatOpenAi,
  OPENAI_RESPONSE_FORMATS,
} from './transcript-formats.js';
import { assertDeclaredSizeWithinLimit, requireUpload, type UploadedFile } from './upload.js';

const Granularities = Type.Array(Type.Enum(['segment', 'word'] as const), { maxItems: 2 });

const TranscriptionBody = Type.Object({
  file: Type.Unknown({ description: 'The audio file (any common container)' }),
  model: Type.Optional(
    Type.String({ maxLength: 256, description: 'whisper-1 or a catalog name (the loaded model answers)' }),
  ),
  language: Type.Optional(
    Type.String({ maxLength: 32, description: 'Whisper code, BCP-47 tag (en-US, fil-PH) or English name' }),
  ),
  prompt: Type.Optional(Type.String({ maxLength: 4096 })),
  response_format: Type.Optional(Type.Enum(OPENAI_RESPONSE_FORMATS)),
  temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  'timestamp_granularities[]': Type.Optional(Granularities),
  timestamp_granularities: Type.Optional(Granularities),
});

const BazarrUploadBody = Type.Object({ audio_file: Type.Unknown({ description: 'The audio file' }) });
const Encode = Type.Optional(
  Type.Boolean({ default: true, description: 'false: the upload is raw 16 kHz mono s16le PCM' }),
);
const BazarrQuery = Type.Object({
  task: Type.Optional(Type.Enum(['transcribe', 'translate'] as const)),
  language: Type.Optional(Type.String({ maxLength: 32 })),
  initial_prompt: Type.Optional(Type.String({ maxLength: 4096 })),
  output: Type.Optional(Type.Enum(BAZARR_OUTPUTS)),
  word_timestamps: Type.Optional(Type.Boolean()),
  vad_filter: Type.Optional(Type.Boolean()),
  encode: Encode,
});
const DetectQuery = Type.Object({
  encode: Encode,
  detect_lang_length: Type.Optional(
    Type.Number({ minimum: 0, maximum: 86_400, description: 'seconds of audio to detect on (0: all)' }),
  ),
  detect_lang_offset: Type.Optional(
    Type.Number({ minimum: 0, maximum: 86_400, description: 'where those seconds start' }),
  ),
});

function parseLanguage(value: string | undefined, param: string): string | undefined {
  if (value === undefined || value === '' || value.toLowerCase() === 'auto') return undefined;
  const code = normaliseLanguage(value);
  if (code === undefined) throw invalidParameterError(param, `unknown language '${value}'`);
  return code;
}

async function readAudio(upload: UploadedFile, encoded: boolean, signal: AbortSignal): Promise<PcmAudio> {
  const audio = encoded
    ? await decodeAudio({ path: upload.path }, { signal })
    : decodeRawPcm16(await readFile(upload.path));
  return padToMinimum(audio);
}

/** whisper.cpp fails outright on clips of a few samples; a second is the least it is given. */
const MIN_ENGINE_SECONDS = 1;

/** A clip shorter than that is padded with silence after it: what it says is kept, and it is said once. */
function padToMinimum(audio: PcmAudio): PcmAudio {
  const minimum = Math.ceil(MIN_ENGINE_SECONDS * audio.sampleRate);
  if (audio.samples.length === 0 || audio.samples.length >= minimum) return audio;
  const samples = new Float32Array(minimum);
  samples.set(audio.samples);
  return { sampleRate: audio.sampleRate, samples };
}

function send(reply: FastifyReply, formatted: FormattedTranscript): FastifyReply {
  return reply.type(formatted.contentType).send(formatted.body);
}

/** The OpenAI and Bazarr ASR routes. They know the engine interface, never an engine. */
export function registerAsrRoutes(app: ServiceApp, runtime: ServiceRuntime<AsrEngine>): void {
  const { maxUploadSizeMb } = runtime.settings;
  const admitBeforeUpload = async (request: FastifyRequest) => {
    assertDeclaredSizeWithinLimit(request, maxUploadSizeMb);
    runtime.gate.admit();
  };

  const transcribe = (
    request: FastifyRequest,
    reply: FastifyReply,
    upload: UploadedFile,
    options: TranscribeOptions & { encoded: boolean },
  ): Promise<Transcript> =>
    runtime.gate.run(request, reply, async (engine, signal) => {
      const audio = await readAudio(upload, options.encoded, signal);
      if (audio.samples.length === 0) throw invalidParameterError('file', 'contains no audio samples');
      const transcript = await engine.transcribe(audio, options, signal);
      runtime.metrics.audioSeconds.inc(durationSeconds(audio));
      return transcript;
    });

  for (const task of ['transcribe', 'translate'] as const) {
    const url = task === 'transcribe' ? '/v1/audio/transcriptions' : '/v1/audio/translations';
    app.post(
      url,
      { schema: { body: TranscriptionBody }, onRequest: admitBeforeUpload },
      async (request, reply) => {
        const body = request.body;
        const upload = requireUpload(body.file, 'file');
        const granularities = body['timestamp_granularities[]'] ?? body.timestamp_granularities ?? [];
        const format = body.response_format ?? 'json';
        const wordTimestamps = granularities.includes('word');
        if (wordTimestamps && format !== 'verbose_json') {
          throw invalidParameterError(
            'timestamp_granularities[]',
            'word timestamps need response_format=verbose_json',
          );
        }
        const temperature = body.temperature ?? 0;
        const transcript = await transcribe(request, reply, upload, {
          task,
          language: task === 'translate' ? undefined : parseLanguage(body.language, 'language'),
          prompt: body.prompt,
          temperature,
          wordTimestamps,
          vad: false,
          encoded: true,
        });
        return send(reply, formatOpenAi(transcript, format, { task, words: wordTimestamps, temperature }));
      },
    );
  }

  // The Bazarr API, also under /bazarr/ as the service this project replaces serves it,
  // so an existing Bazarr configuration keeps working.
  for (const prefix of ['', '/bazarr']) {
    app.post(
      `${prefix}/asr`,
      { schema: { body: BazarrUploadBody, querystring: BazarrQuery }, onRequest: admitBeforeUpload },
      async (request, reply) => {
        const upload = requireUpload(request.body.audio_file, 'audio_file');
        const query = request.query;
        const task: AsrTask = query.task ?? 'transcribe';
        const transcript = await transcribe(request, reply, upload, {
          task,
          language: parseLanguage(query.language, 'language'),
          prompt: query.initial_prompt,
          wordTimestamps: query.word_timestamps ?? false,
          vad: query.vad_filter ?? false,
          encoded: query.encode ?? true,
        });
        reply.header('asr-engine', runtime.slot.engine.describe().engine);
        return send(reply, formatBazarr(transcript, query.output ?? 'txt', task));
      },
    );

    app.post(
      `${prefix}/detect-language`,
      { schema: { body: BazarrUploadBody, querystring: DetectQuery }, onRequest: admitBeforeUpload },
      async (request, reply) => {
        const upload = requireUpload(request.body.audio_file, 'audio_file');
        const { query } = request;
        const detected = await runtime.gate.run(request, reply, async (engine, signal) => {
          const audio = await readAudio(upload, query.encode ?? true, signal);
          const window = detectionWindow(audio, query.detect_lang_offset, query.detect_lang_length);
          return engine.detectLanguage(window, signal);
        });
        return {
          detected_language: languageName(detected.code),
          language_code: detected.code,
          ...(detected.probability === undefined ? {} : { confidence: detected.probability }),
        };
      },
    );
  }
}

/**
 * The part of the audio the language is detected on: `length` seconds from `offset`.
 * As the origin service does, an offset past the end falls back to the whole audio
 * (Bazarr cannot tell the length in advance), and 0 or absent means "not set".
 */
function detectionWindow(audio: PcmAudio, offset = 0, length = 0): PcmAudio {
  const start = Math.floor(offset * audio.sampleRate);
  if (start >= audio.samples.length) return audio;
  const end =
    length > 0 ? Math.min(audio.samples.length, start + Math.ceil(length * audio.sampleRate)) : undefined;
  return { sampleRate: audio.sampleRate, samples: audio.samples.subarray(start, end) };
}
