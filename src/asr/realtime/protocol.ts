/**
 * The OpenAI Realtime API's transcription session, as this service speaks it: the client
 * events it accepts (checked field by field, so a bad one gets an `error` event naming the
 * field and the session lives on) and the session object it echoes. Field names follow the
 * openai-node SDK's beta realtime types (TranscriptionSessionUpdate, InputAudioBuffer*).
 */
import { randomBytes } from 'node:crypto';
import { ErrorKinds, VoiceStackError } from '../../core/errors.js';
import { normaliseLanguage } from '../languages.js';

export const AUDIO_FORMATS = ['pcm16', 'g711_ulaw', 'g711_alaw'] as const;
export type RealtimeAudioFormat = (typeof AUDIO_FORMATS)[number];

/** pcm16 is 24 kHz s16le mono; the G.711 codings are 8 kHz, a byte a sample. */
export const FORMAT_SAMPLE_RATE: Record<RealtimeAudioFormat, number> = {
  pcm16: 24_000,
  g711_ulaw: 8000,
  g711_alaw: 8000,
};

export interface ServerVad {
  readonly type: 'server_vad';
  /** 0–1: how loud a frame must be to count as speech (higher: louder). */
  readonly threshold: number;
  readonly prefix_padding_ms: number;
  readonly silence_duration_ms: number;
}

export interface TranscriptionSettings {
  readonly model: string;
  /** ISO 639-1, or null: detect. */
  readonly language: string | null;
  readonly prompt: string;
}

/** The session object of `transcription_session.created` / `.updated`. */
export interface TranscriptionSession {
  readonly id: string;
  readonly object: 'realtime.transcription_session';
  readonly input_audio_format: RealtimeAudioFormat;
  readonly input_audio_transcription: TranscriptionSettings;
  readonly turn_detection: ServerVad | null;
  readonly input_audio_noise_reduction: null;
  readonly include: readonly string[];
}

export const DEFAULT_SERVER_VAD: ServerVad = {
  type: 'server_vad',
  threshold: 0.5,
  prefix_padding_ms: 300,
  silence_duration_ms: 500,
};

export function defaultSession(model: string): TranscriptionSession {
  return {
    id: newId('sess'),
    object: 'realtime.transcription_session',
    input_audio_format: 'pcm16',
    input_audio_transcription: { model, language: null, prompt: '' },
    turn_detection: DEFAULT_SERVER_VAD,
    input_audio_noise_reduction: null,
    include: [],
  };
}

/** The codes of the `error` events a session answers a refused client event with. */
export type RealtimeErrorCode =
  | 'invalid_json'
  | 'unknown_event'
  | 'unknown_parameter'
  | 'missing_required_parameter'
  | 'invalid_value'
  | 'invalid_audio'
  | 'binary_not_supported'
  | 'input_audio_buffer_commit_empty'
  | 'input_audio_buffer_full'
  | 'session_limit_reached'
  | 'session_idle_timeout'
  | 'shutting_down';

/** A client event refused: the session sends it as an `error` event and carries on. */
export class RealtimeEventError extends VoiceStackError {
  constructor(
    readonly eventCode: RealtimeErrorCode,
    message: string,
    param?: string,
  ) {
    super(ErrorKinds.invalidParameter, message, param === undefined ? {} : { param });
    this.name = 'RealtimeEventError';
  }
}

export function newId(prefix: 'sess' | 'item' | 'event'): string {
  return `${prefix}_${randomBytes(10).toString('hex')}`;
}

export interface SessionUpdate {
  readonly input_audio_format?: RealtimeAudioFormat;
  readonly input_audio_transcription?: Partial<TranscriptionSettings>;
  readonly turn_detection?: ServerVad | null;
}

export type ClientEvent =
  | {
      readonly type: 'transcription_session.update';
      readonly event_id?: string;
      readonly session: SessionUpdate;
    }
  | { readonly type: 'input_audio_buffer.append'; readonly event_id?: string; readonly audio: string }
  | { readonly type: 'input_audio_buffer.commit'; readonly event_id?: string }
  | { readonly type: 'input_audio_buffer.clear'; readonly event_id?: string };

const CLIENT_EVENTS = [
  'transcription_session.update',
  'input_audio_buffer.append',
  'input_audio_buffer.commit',
  'input_audio_buffer.clear',
] as const;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unknownKeys(object: Json, known: readonly string[], prefix: string): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) {
      throw new RealtimeEventError(
        'unknown_parameter',
        `Unknown parameter: '${prefix}${key}'.`,
        `${prefix}${key}`,
      );
    }
  }
}

function invalid(param: string, problem: string): RealtimeEventError {
  return new RealtimeEventError('invalid_value', `Invalid value for '${param}': ${problem}`, param);
}

/** The `event_id` of a message, when it has a usable one (for error events that point back). */
export function clientEventId(message: unknown): string | undefined {
  return isObject(message) && typeof message.event_id === 'string'
    ? message.event_id.slice(0, 256)
    : undefined;
}

/** Parses and checks one client message; throws RealtimeEventError naming what is wrong. */
export function parseClientEvent(text: string): ClientEvent {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    throw new RealtimeEventError('invalid_json', 'The event is not valid JSON.');
  }
  if (!isObject(message)) throw new RealtimeEventError('invalid_json', 'The event must be a JSON object.');
  const type = message.type;
  if (typeof type !== 'string') {
    throw new RealtimeEventError('missing_required_parameter', "Missing required parameter: 'type'.", 'type');
  }
  if (!(CLIENT_EVENTS as readonly string[]).includes(type)) {
    throw new RealtimeEventError(
      'unknown_event',
      `Unknown event type '${type.slice(0, 100)}': a transcription session accepts ${CLIENT_EVENTS.join(', ')}.`,
      'type',
    );
  }
  const eventId = clientEventId(message);
  const base = eventId === undefined ? {} : { event_id: eventId };
  switch (type) {
    case 'input_audio_buffer.append': {
      unknownKeys(message, ['type', 'event_id', 'audio'], '');
      if (typeof message.audio !== 'string') {
        throw new RealtimeEventError(
          'missing_required_parameter',
          "Missing required parameter: 'audio' (base64-encoded audio in the session's input_audio_format).",
          'audio',
        );
      }
      return { type, ...base, audio: message.audio };
    }
    case 'transcription_session.update': {
      unknownKeys(message, ['type', 'event_id', 'session'], '');
      if (!isObject(message.session)) {
        throw new RealtimeEventError(
          'missing_required_parameter',
          "Missing required parameter: 'session'.",
          'session',
        );
      }
      return { type, ...base, session: parseSessionUpdate(message.session) };
    }
    default:
      unknownKeys(message, ['type', 'event_id'], '');
      return { type: type as 'input_audio_buffer.commit' | 'input_audio_buffer.clear', ...base };
  }
}

/** Session fields taken and ignored: they configure OpenAI's own models or billing. */
const IGNORED_SESSION_FIELDS = ['input_audio_noise_reduction', 'include', 'modalities', 'client_secret'];

function parseSessionUpdate(session: Json): SessionUpdate {
  unknownKeys(
    session,
    ['input_audio_format', 'input_audio_transcription', 'turn_detection', ...IGNORED_SESSION_FIELDS],
    'session.',
  );
  const update: {
    input_audio_format?: RealtimeAudioFormat;
    input_audio_transcription?: Partial<TranscriptionSettings>;
    turn_detection?: ServerVad | null;
  } = {};
  if (session.input_audio_format !== undefined) {
    const format = session.input_audio_format;
    if (typeof format !== 'string' || !(AUDIO_FORMATS as readonly string[]).includes(format)) {
      throw invalid(
        'session.input_audio_format',
        `${JSON.stringify(format)} is not supported; use ${AUDIO_FORMATS.join(', ')} (pcm16 is 24 kHz mono s16le).`,
      );
    }
    update.input_audio_format = format as RealtimeAudioFormat;
  }
  if (session.input_audio_transcription !== undefined && session.input_audio_transcription !== null) {
    update.input_audio_transcription = parseTranscription(session.input_audio_transcription);
  }
  if (session.turn_detection !== undefined)
    update.turn_detection = parseTurnDetection(session.turn_detection);
  return update;
}

function parseTranscription(value: unknown): Partial<TranscriptionSettings> {
  const param = 'session.input_audio_transcription';
  if (!isObject(value)) throw invalid(param, 'must be an object {model, language, prompt}.');
  unknownKeys(value, ['model', 'language', 'prompt'], `${param}.`);
  const out: { model?: string; language?: string | null; prompt?: string } = {};
  if (value.model !== undefined) {
    if (typeof value.model !== 'string' || value.model.length > 256)
      throw invalid(`${param}.model`, 'must be a string.');
    out.model = value.model;
  }
  if (value.language !== undefined && value.language !== null && value.language !== '') {
    const code = typeof value.language === 'string' ? normaliseLanguage(value.language) : undefined;
    if (code === undefined)
      throw invalid(`${param}.language`, `unknown language ${JSON.stringify(value.language)}.`);
    out.language = code;
  } else if (value.language !== undefined) {
    out.language = null;
  }
  if (value.prompt !== undefined) {
    if (typeof value.prompt !== 'string' || value.prompt.length > 4096) {
      throw invalid(`${param}.prompt`, 'must be a string of at most 4096 characters.');
    }
    out.prompt = value.prompt;
  }
  return out;
}

function numberIn(value: unknown, param: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw invalid(param, `must be a number from ${min} to ${max}.`);
  }
  return value;
}

function parseTurnDetection(value: unknown): ServerVad | null {
  const param = 'session.turn_detection';
  if (value === null) return null;
  if (!isObject(value)) throw invalid(param, 'must be {"type":"server_vad", …} or null for manual commits.');
  unknownKeys(
    value,
    [
      'type',
      'threshold',
      'prefix_padding_ms',
      'silence_duration_ms',
      'create_response',
      'interrupt_response',
      'eagerness',
    ],
    `${param}.`,
  );
  if (value.type !== undefined && value.type !== 'server_vad') {
    throw invalid(
      `${param}.type`,
      `${JSON.stringify(value.type)} is not supported; use server_vad, or null for manual commits.`,
    );
  }
  return {
    type: 'server_vad',
    threshold: numberIn(value.threshold, `${param}.threshold`, 0, 1, DEFAULT_SERVER_VAD.threshold),
    prefix_padding_ms: Math.round(
      numberIn(
        value.prefix_padding_ms,
        `${param}.prefix_padding_ms`,
        0,
        5000,
        DEFAULT_SERVER_VAD.prefix_padding_ms,
      ),
    ),
    silence_duration_ms: Math.round(
      numberIn(
        value.silence_duration_ms,
        `${param}.silence_duration_ms`,
        20,
        10_000,
        DEFAULT_SERVER_VAD.silence_duration_ms,
      ),
    ),
  };
}

/** The session after an update: transcription fields merge; a turn_detection object replaces. */
export function applyUpdate(session: TranscriptionSession, update: SessionUpdate): TranscriptionSession {
  return {
    ...session,
    ...(update.input_audio_format === undefined ? {} : { input_audio_format: update.input_audio_format }),
    input_audio_transcription: { ...session.input_audio_transcription, ...update.input_audio_transcription },
    ...(update.turn_detection === undefined ? {} : { turn_detection: update.turn_detection }),
  };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict base64 (Buffer.from would skip what is not base64 and decode the rest). */
export function decodeBase64Audio(audio: string, format: RealtimeAudioFormat): Buffer {
  if (audio.length % 4 !== 0 || !BASE64.test(audio)) {
    throw new RealtimeEventError('invalid_audio', "Invalid 'audio': not valid base64.", 'audio');
  }
  const bytes = Buffer.from(audio, 'base64');
  if (format === 'pcm16' && bytes.length % 2 !== 0) {
    throw new RealtimeEventError(
      'invalid_audio',
      "Invalid 'audio': pcm16 audio is 16-bit samples, so it must be an even number of bytes.",
      'audio',
    );
  }
  return bytes;
}
