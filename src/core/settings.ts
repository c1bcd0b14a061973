import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';
import { AppError } from './errors.js';
import { expandHome, MODEL_CACHE_DIR_DEFAULT_SETTING } from './models/cache-dir.js';

/**
 * The one typed settings object of a process. Parsed once from `.env` and the
 * environment (the environment wins) and passed down; nothing else reads
 * process.env. Names are the contract documented in docs/CONFIGURATION.md.
 */

export type ServiceName = 'asr' | 'tts';
export type Device = 'cpu' | 'cuda' | 'auto';

export interface ServiceSettings {
  readonly port: number;
  readonly maxConcurrentRequests: number;
  readonly maxQueueSize: number;
  readonly idleTimeoutMinutes: number;
}

export interface AsrSettings extends ServiceSettings {
  readonly engine: 'whisper-cpp';
  readonly model: string;
  readonly device: Device;
  readonly computeType: string;
  /** 0 = cores divided by the concurrency limit. */
  readonly cpuThreads: number;
  /** Nice levels the inference threads run below the event loop's thread; 0 = leave them. */
  readonly inferenceNice: number;
  /** Which whisper.cpp runs on the CPU: the 1.8.3 prebuilt (falls back to bundled when missing) or the bundled one. */
  readonly whisperBuild: 'current' | 'bundled';
  /** A Silero VAD model in ggml form for `vad_filter`; unset = no VAD. */
  readonly vadModel: string | undefined;
  /** Longest decoded audio one request may carry (a small compressed file can expand to hours). */
  readonly maxAudioHours: number;
  /** Uploads stop (503) once the spool's filesystem would have less than this free. */
  readonly uploadDiskReserveMb: number;
  /** Realtime transcription WebSockets open at once; one more is refused (close code 1013). */
  readonly maxRealtimeSessions: number;
  /** A Realtime session with no client event for this long (and nothing being transcribed) is closed. */
  readonly realtimeIdleTimeoutSeconds: number;
}

export interface TtsSettings extends ServiceSettings {
  readonly engine: 'espeak-ng' | 'piper' | 'kokoro';
  readonly model: string | undefined;
  readonly voice: string | undefined;
  readonly device: Device;
  readonly maxTextChars: number;
  /** Longest audio one speech request may produce, in seconds (at the requested speed). */
  readonly maxSpeechSeconds: number;
}

/** One Wyoming listener; `explicit` when its port was set rather than defaulted. */
export interface WyomingListenerSettings {
  readonly port: number;
  readonly explicit: boolean;
}

export interface WyomingSettings {
  /** undefined = off. */
  readonly asr: WyomingListenerSettings | undefined;
  readonly tts: WyomingListenerSettings | undefined;
  /** Advertise `_wyoming._tcp` over mDNS (bonjour-service) so Home Assistant discovers the listeners. */
  readonly zeroconf: boolean;
}

/** Durable transcription jobs on Redis (BullMQ) and the workers that run them. */
export interface JobSettings {
  /** Unset: the jobs routes answer 503 naming REDIS_URL; nothing connects to Redis. */
  readonly redisUrl: string | undefined;
  readonly retentionHours: number;
  /** Standard Webhooks signing secret (`whsec_<base64>` or any string); unset: no webhooks. */
  readonly webhookSecret: string | undefined;
  readonly webhookAllowPrivate: boolean;
  readonly webhookMaxAttempts: number;
  /** `serve asr` with REDIS_URL also consumes jobs unless this is false (API-only nodes). */
  readonly worker: boolean;
  /** Port of a worker's /health, /ready and /metrics; 0 = any free port. */
  readonly workerMetricsPort: number;
  /** A job held by a worker that stopped renewing its lock (killed, hung) goes to another after this. */
  readonly lockSeconds: number;
  /** Jobs longer than this are cut into pieces that run in parallel (JOB_SPLIT_MINUTES). */
  readonly splitMinutes: number;
  /** Where the synchronous ASR routes run: here, or on whichever worker is free. */
  readonly dispatch: 'local' | 'queue';
}

export interface Settings {
  readonly host: string;
  readonly jobs: JobSettings;
  readonly asr: AsrSettings;
  readonly tts: TtsSettings;
  readonly queueTimeoutSeconds: number;
  readonly memoryThresholdPercent: number;
  readonly swapThresholdPercent: number;
  readonly maxUploadSizeMb: number;
  readonly modelCacheDir: string;
  readonly apiKey: string | undefined;
  readonly metricsRequireApiKey: boolean;
  /** Also protect the read-only model and voice listings (Open WebUI reads them without a key). */
  readonly listingsRequireApiKey: boolean;
  readonly corsOrigins: readonly string[];
  readonly logLevel: string;
  /** How long SIGTERM waits for in-flight and queued work before forcing exit. */
  readonly shutdownGraceSeconds: number;
  /** After SIGTERM, how long /ready says "draining" before the listener closes. */
  readonly drainNoticeSeconds: number;
  /** Longest time to receive one whole request (headers and body); 0 = no bound. */
  readonly requestTimeoutSeconds: number;
  /** Longest time to receive a request's headers. */
  readonly headersTimeoutSeconds: number;
  /** Longest silence while a request body is arriving before the request is cut. */
  readonly bodyIdleTimeoutSeconds: number;
  /** Open connections per service; 0 = no bound. */
  readonly maxConnections: number;
  /** Open connections per client address per service; 0 = no bound. */
  readonly maxConnectionsPerIp: number;
  /** Home Assistant's Wyoming protocol on its own TCP ports (DESIGN §8). */
  readonly wyoming: WyomingSettings;
}

export class SettingsError extends AppError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('VS_ERR_SETTINGS', `Invalid settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ message: 'expected a number' })
    .int({ message: 'expected a whole number' })
    .min(min, { message: `expected at least ${min}` })
    .max(max, { message: `expected at most ${max}` });
const decimal = (min: number, max: number) =>
  z.coerce
    .number({ message: 'expected a number' })
    .min(min, { message: `expected at least ${min}` })
    .max(max, { message: `expected at most ${max}` });
const oneOf = <const T extends string>(values: readonly [T, ...T[]]): z.ZodType<T> =>
  z.enum(values, { message: `expected one of ${values.join(', ')}` }) as unknown as z.ZodType<T>;
const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Reads variables one by one so that every bad value is reported, not just the first. */
class EnvReader {
  readonly problems: string[] = [];
  /** Shared names are read once per service; each bad value is reported once. */
  private readonly reported = new Set<string>();
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  }

  read<T>(name: string, schema: z.ZodType<T>, fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    if (this.reported.has(name)) return fallback;
    this.reported.add(name);
    this.problems.push(
      `${name}=${JSON.stringify(value)}: ${parsed.error.issues[0]?.message ?? 'invalid value'}`,
    );
    return fallback;
  }

  /** `ASR_X` / `TTS_X` override the shared `X`. */
  readService<T>(service: ServiceName, name: string, schema: z.ZodType<T>, fallback: T): T {
    const shared = this.read(name, schema, fallback);
    return this.read(`${service.toUpperCase()}_${name}`, schema, shared);
  }
}

function readServiceSettings(reader: EnvReader, service: ServiceName, defaultPort: number): ServiceSettings {
  return {
    port: reader.read(`${service.toUpperCase()}_PORT`, wholeNumber(0, 65535), defaultPort),
    maxConcurrentRequests: reader.readService(service, 'MAX_CONCURRENT_REQUESTS', wholeNumber(1, 1024), 2),
    maxQueueSize: reader.readService(service, 'MAX_QUEUE_SIZE', wholeNumber(0, 100_000), 64),
    idleTimeoutMinutes: reader.readService(service, 'IDLE_TIMEOUT_MINUTES', decimal(0, 525_600), 60),
  };
}

const DEVICES = ['cpu', 'cuda', 'auto'] as const;

const WYOMING_OFF = new Set(['off', 'false', 'no', 'disabled', 'none']);
const portNumber = wholeNumber(0, 65535);

/**
 * A Wyoming port: a number (0 picks a free one) or `off`. Unset, it is on at
 * `defaultPort` unless API_KEY is set: the protocol has no authentication, so a
 * service that asks for a key does not open an unauthenticated door by default.
 */
function readWyomingPort(
  reader: EnvReader,
  name: string,
  defaultPort: number,
  apiKeySet: boolean,
): WyomingListenerSettings | undefined {
  const raw = reader.raw(name);
  if (raw === undefined) return apiKeySet ? undefined : { port: defaultPort, explicit: false };
  if (WYOMING_OFF.has(raw.toLowerCase())) return undefined;
  const port = reader.read(name, portNumber, -1);
  return port < 0 ? undefined : { port, explicit: true };
}

/**
 * Bazarr sends a film's whole audio track as raw 16 kHz PCM: 115 MB an hour, so a
 * three-hour film is 346 MB and six hours (MAX_AUDIO_HOURS) 691 MB. Uploads are spooled
 * to disk and decoded in pieces, so this bounds disk, not memory, and a body over it is
 * cut the moment it passes.
 */
export const DEFAULT_MAX_UPLOAD_MB = 1024;

export function parseSettings(env: Env): Settings {
  const reader = new EnvReader(env);
  const settings: Settings = {
    host: reader.read('HOST', z.string(), '0.0.0.0'),
    asr: {
      ...readServiceSettings(reader, 'asr', 5001),
      engine: reader.read('ASR_ENGINE', oneOf(['whisper-cpp']), 'whisper-cpp'),
      model: reader.read('ASR_MODEL', z.string(), 'base'),
      device: reader.read('ASR_DEVICE', oneOf(DEVICES), 'auto'),
      computeType: reader.read('ASR_COMPUTE_TYPE', z.string(), 'default'),
      cpuThreads: reader.read('ASR_CPU_THREADS', wholeNumber(0, 1024), 0),
      inferenceNice: reader.read('ASR_INFERENCE_NICE', wholeNumber(0, 19), 10),
      whisperBuild: reader.read('ASR_WHISPER_BUILD', oneOf(['current', 'bundled']), 'current'),
      vadModel: optionalPath(reader.raw('ASR_VAD_MODEL')),
      maxAudioHours: reader.read('MAX_AUDIO_HOURS', decimal(0.001, 48), 6),
      uploadDiskReserveMb: reader.read('UPLOAD_DISK_RESERVE_MB', decimal(0, 100_000_000), 2048),
      maxRealtimeSessions: reader.read('MAX_REALTIME_SESSIONS', wholeNumber(0, 100_000), 16),
      realtimeIdleTimeoutSeconds: reader.read('REALTIME_IDLE_TIMEOUT_SECONDS', decimal(1, 86_400), 60),
    },
    tts: {
      ...readServiceSettings(reader, 'tts', 5002),
      engine: reader.read('TTS_ENGINE', oneOf(['espeak-ng', 'piper', 'kokoro']), 'espeak-ng'),
      model: reader.raw('TTS_MODEL'),
      voice: reader.raw('TTS_VOICE'),
      device: reader.read('TTS_DEVICE', oneOf(DEVICES), 'auto'),
      maxTextChars: reader.read('MAX_TEXT_CHARS', wholeNumber(1, 1_000_000), 4096),
      maxSpeechSeconds: reader.read('MAX_SPEECH_SECONDS', decimal(1, 86_400), 600),
    },
    jobs: readJobSettings(reader),
    queueTimeoutSeconds: reader.read('QUEUE_TIMEOUT_SECONDS', decimal(0.001, 86_400), 300),
    memoryThresholdPercent: reader.read('MEMORY_THRESHOLD_PERCENT', decimal(0, 100), 90),
    swapThresholdPercent: reader.read('SWAP_THRESHOLD_PERCENT', decimal(0, 100), 80),
    maxUploadSizeMb: reader.read('MAX_UPLOAD_SIZE_MB', decimal(0.001, 1_000_000), DEFAULT_MAX_UPLOAD_MB),
    modelCacheDir: resolve(
      expandHome(reader.read('MODEL_CACHE_DIR', z.string(), MODEL_CACHE_DIR_DEFAULT_SETTING)),
    ),
    apiKey: reader.raw('API_KEY'),
    metricsRequireApiKey: reader.read('METRICS_REQUIRE_API_KEY', booleanFlag, false),
    listingsRequireApiKey: reader.read('LISTINGS_REQUIRE_API_KEY', booleanFlag, false),
    corsOrigins: splitList(reader.raw('CORS_ORIGINS')),
    logLevel: reader.read('LOG_LEVEL', oneOf(LOG_LEVELS), 'info'),
    shutdownGraceSeconds: reader.read('SHUTDOWN_GRACE_SECONDS', decimal(0, 3600), 30),
    drainNoticeSeconds: reader.read('DRAIN_NOTICE_SECONDS', decimal(0, 3600), 5),
    // Generous: an honest upload of hundreds of MB over a slow link takes minutes;
    // stalled clients are cut by the idle bound long before this.
    requestTimeoutSeconds: reader.read('REQUEST_TIMEOUT_SECONDS', decimal(0, 86_400), 1800),
    headersTimeoutSeconds: reader.read('HEADERS_TIMEOUT_SECONDS', decimal(0.1, 3600), 30),
    bodyIdleTimeoutSeconds: reader.read('BODY_IDLE_TIMEOUT_SECONDS', decimal(0.1, 3600), 30),
    maxConnections: reader.read('MAX_CONNECTIONS', wholeNumber(0, 1_000_000), 2048),
    maxConnectionsPerIp: reader.read('MAX_CONNECTIONS_PER_IP', wholeNumber(0, 1_000_000), 256),
    wyoming: {
      asr: readWyomingPort(reader, 'WYOMING_ASR_PORT', 10300, reader.raw('API_KEY') !== undefined),
      tts: readWyomingPort(reader, 'WYOMING_TTS_PORT', 10200, reader.raw('API_KEY') !== undefined),
      zeroconf: reader.read('WYOMING_ZEROCONF', booleanFlag, false),
    },
  };
  if (reader.problems.length > 0) throw new SettingsError(reader.problems);
  return settings;
}

function readJobSettings(reader: EnvReader): JobSettings {
  const jobs = readJobValues(reader);
  if (jobs.dispatch === 'queue' && jobs.redisUrl === undefined) {
    reader.problems.push('ASR_DISPATCH="queue": needs REDIS_URL (the queue the workers take the work from)');
  }
  return jobs;
}

function readJobValues(reader: EnvReader): JobSettings {
  return {
    redisUrl: reader.read('REDIS_URL', redisUrl.optional(), undefined),
    retentionHours: reader.read('JOB_RETENTION_HOURS', decimal(0.001, 87_600), 24),
    webhookSecret: reader.raw('WEBHOOK_SECRET'),
    webhookAllowPrivate: reader.read('WEBHOOK_ALLOW_PRIVATE', booleanFlag, false),
    webhookMaxAttempts: reader.read('WEBHOOK_MAX_ATTEMPTS', wholeNumber(1, 100), 10),
    worker: reader.read('ASR_JOBS_WORKER', booleanFlag, true),
    workerMetricsPort: reader.read('WORKER_METRICS_PORT', wholeNumber(0, 65535), 5003),
    lockSeconds: reader.read('JOB_LOCK_SECONDS', decimal(1, 3600), 30),
    splitMinutes: reader.read('JOB_SPLIT_MINUTES', decimal(0, 10_000), 10),
    dispatch: reader.read('ASR_DISPATCH', oneOf(['local', 'queue']), 'local'),
  };
}

const redisUrl = z.string().refine((value) => /^rediss?:\/\/[^\s]+$/.test(value), {
  message: 'expected redis://host:port or rediss://…',
});

/** `.env` in `cwd` (or `envFile`) under the process environment, which wins. */
export function loadSettings(
  options: { env?: Env; envFile?: string | undefined; cwd?: string } = {},
): Settings {
  const env = options.env ?? process.env;
  const envFile = options.envFile ?? env.VOICE_STACK_ENV_FILE ?? join(options.cwd ?? process.cwd(), '.env');
  const fromFile = existsSync(envFile) ? parseDotenv(readFileSync(envFile)) : {};
  return parseSettings({ ...fromFile, ...env });
}

export function serviceSettings(settings: Settings, service: ServiceName): AsrSettings | TtsSettings {
  return service === 'asr' ? settings.asr : settings.tts;
}

function optionalPath(value: string | undefined): string | undefined {
  return value === undefined ? undefined : resolve(expandHome(value));
}

function splitList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}
