import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { decodeSpooledAudio, type SpooledAudio } from '../audio/decode-stream.js';
import type { PcmAudio } from '../audio/pcm-audio.js';
import { invalidParameterError } from '../core/errors.js';
import { clientAbortSignal } from '../core/http/client-abort.js';
import { toVoiceStackError } from '../core/http/error-handler.js';
import type { ServiceApp } from '../core/http/service-app-type.js';
import type { ServiceRuntime } from '../core/runtime/service-runtime.js';
import type { AsrSettings } from '../core/settings.js';
import {
  BazarrTranscriptResponse,
  DetectedLanguageResponse,
  OpenAiTranscriptResponse,
} from './asr-response-schemas.js';
import type { AsrEngine, AsrTask, TranscribeOptions, Transcript } from './engines/asr-engine.js';
import { MAX_PIECE_SECONDS, SAMPLE_RATE } from './engines/audio-windows.js';
import { languageName, normaliseLanguage } from './languages.js';
import type { RemoteTranscriber } from './remote-transcriber.js';
import { transcribeInPieces } from './transcribe-in-pieces.js';
import {
  BAZARR_OUTPUTS,
  type FormattedTranscript,
  formatBazarr,
  formatOpenAi,
  OPENAI_RESPONSE_FORMATS,
  type OpenAiResponseFormat,
} from './transcript-formats.js';
import { streamTranscript } from './transcript-stream.js';
import { assertDeclaredSizeWithinLimit, requireUpload, type UploadedFile } from './upload.js';

/** The formats a transcript can be streamed in: text as it comes. Subtitles and verbose_json need the whole. */
const STREAMABLE_FORMATS: readonly OpenAiResponseFormat[] = ['json', 'text'];

const Granularities = Type.Array(Type.Enum(['segment', 'word'] as const), { maxItems: 2 });

export const TranscriptionBody = Type.Object({
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
  stream: Type.Optional(
    Type.Boolean({
      description:
        'true: answer text/event-stream with transcript.text.delta events as segments are decoded, then transcript.text.done (json and text only)',
    }),
  ),
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

export function parseLanguage(value: string | undefined, param: string): string | undefined {
  if (value === undefined || value === '' || value.toLowerCase() === 'auto') return undefined;
  const code = normaliseLanguage(value);
  if (code === undefined) throw invalidParameterError(param, `unknown language '${value}'`);
  return code;
}

function send(reply: FastifyReply, formatted: FormattedTranscript): FastifyReply {
  return reply.type(formatted.contentType).send(formatted.body);
}

/** The OpenAI and Bazarr ASR routes. They know the engine interface, never an engine. */
export function registerAsrRoutes(
  app: ServiceApp,
  runtime: ServiceRuntime<AsrEngine, AsrSettings>,
  remote?: RemoteTranscriber,
): void {
  const { maxUploadSizeMb } = runtime.settings;
  const maxSeconds = runtime.serviceSettings.maxAudioHours * 3600;
  const decode = (upload: UploadedFile, encoded: boolean, signal: AbortSignal) =>
    decodeSpooledAudio({ path: upload.path, encoded } satisfies SpooledAudio, { signal, maxSeconds });
  const admitBeforeUpload = async (request: FastifyRequest) => {
    assertDeclaredSizeWithinLimit(request, maxUploadSizeMb);
    runtime.gate.admit();
  };
  // With ASR_DISPATCH=queue the fleet's backlog decides, not this node's slots.
  const admitTranscription = async (request: FastifyRequest) => {
    if (remote === undefined) return admitBeforeUpload(request);
    assertDeclaredSizeWithinLimit(request, maxUploadSizeMb);
    await remote.admit();
  };

  const transcribe = (
    request: FastifyRequest,
    reply: FastifyReply,
    upload: UploadedFile,
    options: TranscribeOptions & { encoded: boolean },
  ): Promise<Transcript> =>
    remote
      ? remote
          .transcribe(
            { path: upload.path, encoded: options.encoded },
            options,
            clientAbortSignal(request, reply),
          )
          .then((transcript) => {
            // stream=true: the fleet answers whole, so its segments are the deltas, sent at once.
            for (const segment of transcript.segments) options.onSegment?.(segment);
            return transcript;
          })
      : transcribeHere(request, reply, upload, options);

  const transcribeHere = (
    request: FastifyRequest,
    reply: FastifyReply,
    upload: UploadedFile,
    options: TranscribeOptions & { encoded: boolean },
  ): Promise<Transcript> =>
    runtime.gate.run(clientAbortSignal(request, reply), async (engine, signal) => {
      const transcript = await transcribeInPieces(
        engine,
        decode(upload, options.encoded, signal),
        options,
        signal,
        {
          onEngineCall: () => runtime.metrics.speechGate.inc({ decision: 'speech' }),
          onSilentBlock: () => runtime.metrics.speechGate.inc({ decision: 'no_speech' }),
        },
      );
      runtime.metrics.audioSeconds.inc(transcript.duration);
      return transcript;
    });

  for (const task of ['transcribe', 'translate'] as const) {
    const url = task === 'transcribe' ? '/v1/audio/transcriptions' : '/v1/audio/translations';
    app.post(
      url,
      {
        schema: { body: TranscriptionBody, response: OpenAiTranscriptResponse },
        onRequest: admitTranscription,
      },
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
        if (body.stream === true && !STREAMABLE_FORMATS.includes(format)) {
          throw invalidParameterError(
            'stream',
            `response_format=${format} cannot be streamed; use json or text, or leave stream unset`,
          );
        }
        const temperature = body.temperature ?? 0;
        const options = {
          task,
          language: task === 'translate' ? undefined : parseLanguage(body.language, 'language'),
          prompt: body.prompt,
          temperature,
          wordTimestamps,
          vad: false,
          encoded: true,
        };
        if (body.stream === true) {
          const stream = await streamTranscript(
            (onSegment) => transcribe(request, reply, upload, { ...options, onSegment }),
            (error) =>
              toVoiceStackError(error, { maxUploadMb: maxUploadSizeMb, routeBodyLimitBytes: undefined }),
            request.log,
          );
          return reply
            .type('text/event-stream; charset=utf-8')
            .header('cache-control', 'no-cache')
            .header('x-accel-buffering', 'no')
            .send(stream.body);
        }
        const transcript = await transcribe(request, reply, upload, options);
        return send(reply, formatOpenAi(transcript, format, { task, words: wordTimestamps, temperature }));
      },
    );
  }

  // The Bazarr API, also under /bazarr/ as the service this project replaces serves it,
  // so an existing Bazarr configuration keeps working.
  for (const prefix of ['', '/bazarr']) {
    app.post(
      `${prefix}/asr`,
      {
        schema: { body: BazarrUploadBody, querystring: BazarrQuery, response: BazarrTranscriptResponse },
        onRequest: admitTranscription,
      },
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
      {
        schema: { body: BazarrUploadBody, querystring: DetectQuery, response: DetectedLanguageResponse },
        onRequest: admitBeforeUpload,
      },
      async (request, reply) => {
        const upload = requireUpload(request.body.audio_file, 'audio_file');
        const { query } = request;
        const detected = await runtime.gate.run(clientAbortSignal(request, reply), async (engine, signal) => {
          const chunks = decode(upload, query.encode ?? true, signal);
          const window = await detectionWindow(chunks, query.detect_lang_offset, query.detect_lang_length);
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
 * The part of the audio the language is detected on: `length` seconds from `offset`,
 * at most the one window whisper detects on, read from the decoder and no further (the
 * rest of a film is never decoded). As whisper-asr-webservice does, an offset past the end
 * falls back to the start (Bazarr cannot tell the length in advance), and 0 or absent
 * means "not set".
 */
async function detectionWindow(
  chunks: AsyncIterable<Float32Array>,
  offset = 0,
  length = 0,
): Promise<PcmAudio> {
  // At least a second: whisper.cpp fails on a few samples (a short clip is padded with silence).
  const seconds = Math.max(1, length > 0 ? Math.min(length, MAX_PIECE_SECONDS) : MAX_PIECE_SECONDS);
  const want = Math.ceil(seconds * SAMPLE_RATE);
  const start = Math.floor(offset * SAMPLE_RATE);
  const head = new Float32Array(want);
  const window = new Float32Array(want);
  let headFilled = 0;
  let windowFilled = 0;
  let position = 0;
  for await (const chunk of chunks) {
    headFilled += copyOverlap(chunk, position, head, 0, headFilled);
    windowFilled += copyOverlap(chunk, position, window, start, windowFilled);
    position += chunk.length;
    if (windowFilled === want) break;
  }
  const filled = windowFilled > 0 ? windowFilled : headFilled;
  const source = windowFilled > 0 ? window : head;
  return { sampleRate: SAMPLE_RATE, samples: source.subarray(0, Math.max(filled, SAMPLE_RATE)) };
}

/**
 * Copies the part of `chunk` (which starts at sample `position` of the stream) that falls
 * in the target's stretch of the stream, `from` onwards, after the `filled` samples it
 * holds; returns how many samples it copied.
 */
function copyOverlap(
  chunk: Float32Array,
  position: number,
  target: Float32Array,
  from: number,
  filled: number,
): number {
  const next = from + filled;
  const begin = Math.max(0, next - position);
  const count = Math.min(chunk.length - begin, target.length - filled);
  if (count <= 0) return 0;
  target.set(chunk.subarray(begin, begin + count), filled);
  return count;
}
