import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import type { AudioPayload } from './asr-target.js';
import { asrTarget } from './asr-target.js';
import { defaultSpeechPayload, loadAudioFiles } from './audio-payloads.js';
import { parseDuration } from './duration.js';
import type { ServiceTarget } from './service-target.js';
import { parseThresholds, type Threshold } from './threshold.js';
import { type ArrivalProcess, parseRamp, type RampStage, type TrafficPlan } from './traffic-plan.js';
import { ttsTarget } from './tts-target.js';
import { DEFAULT_TTS_TEXTS } from './tts-texts.js';

/** The flags exactly as commander hands them over. */
export interface RawLoadTestFlags {
  service: string;
  workers?: string;
  requests?: string;
  duration?: string;
  asrHost: string;
  ttsHost: string;
  timeout: string;
  verbose?: boolean;
  parallel?: boolean;
  rate?: string;
  arrival: string;
  ramp?: string;
  audio?: string[];
  text?: string[];
  textFile?: string;
  ttsModel: string;
  ttsVoice: string;
  ttsFormat: string;
  ttsSpeed: string;
  asrModel: string;
  asrFormat: string;
  apiKey?: string;
  json?: string;
  html?: string;
  threshold?: string;
  sampleInterval: string;
  progress: boolean;
  progressEvery: string;
  scenario?: string;
}

export interface LoadTestCliOptions {
  services: Array<'asr' | 'tts'>;
  together: boolean;
  /** What the user asked for, before defaults: scenarios pick their own where unset. */
  workers: number | undefined;
  requests: number | undefined;
  durationMs: number | undefined;
  rate: number | undefined;
  arrival: ArrivalProcess;
  ramp: RampStage[] | undefined;
  timeoutMs: number;
  verbose: boolean;
  thresholds: Threshold[];
  jsonPath: string | undefined;
  htmlPath: string | undefined;
  sampleIntervalMs: number;
  progress: boolean;
  progressEverySeconds: number;
  scenario: string | undefined;
  flags: RawLoadTestFlags;
}

export const DEFAULT_WORKERS = 5;
export const DEFAULT_REQUESTS = 10;

export function parseCliOptions(flags: RawLoadTestFlags): LoadTestCliOptions {
  if (!['asr', 'tts', 'both'].includes(flags.service))
    throw new Error(`--service must be asr, tts or both, not "${flags.service}"`);
  if (flags.arrival !== 'constant' && flags.arrival !== 'poisson')
    throw new Error('--arrival must be constant or poisson');
  const ramp = flags.ramp === undefined ? undefined : parseRamp(flags.ramp);
  const rate = optionalNumber(flags.rate, '--rate');
  if (ramp && rate !== undefined) throw new Error('use --rate or --ramp, not both');
  return {
    services: flags.service === 'both' ? ['asr', 'tts'] : [flags.service as 'asr' | 'tts'],
    together: flags.parallel === true,
    workers: optionalInteger(flags.workers, '--workers'),
    requests: optionalInteger(flags.requests, '--requests'),
    durationMs: flags.duration === undefined ? undefined : parseDuration(flags.duration) * 1000,
    rate,
    arrival: flags.arrival,
    ramp,
    timeoutMs: parseDuration(flags.timeout) * 1000,
    verbose: flags.verbose === true,
    thresholds: flags.threshold === undefined ? [] : parseThresholds(flags.threshold),
    jsonPath: flags.json,
    htmlPath: flags.html,
    sampleIntervalMs: parseDuration(flags.sampleInterval) * 1000,
    progress: flags.progress,
    progressEverySeconds: Number(flags.progressEvery),
    scenario: flags.scenario,
    flags,
  };
}

function optionalNumber(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!(value > 0)) throw new Error(`${flag} must be a positive number, not "${text}"`);
  return value;
}

function optionalInteger(text: string | undefined, flag: string): number | undefined {
  const value = optionalNumber(text, flag);
  if (value !== undefined && !Number.isInteger(value))
    throw new Error(`${flag} must be a whole number, not "${text}"`);
  return value;
}

/** The plan the flags describe; without a bound, the documented default of 10 requests per service. */
export function planFromOptions(options: LoadTestCliOptions): TrafficPlan {
  const stages =
    options.ramp ??
    (options.rate === undefined ? undefined : [{ rate: options.rate, durationMs: Number.POSITIVE_INFINITY }]);
  const bounded =
    options.requests !== undefined || options.durationMs !== undefined || options.ramp !== undefined;
  return {
    // In the open model workers only cap what is in flight, so the default is generous.
    workers: options.workers ?? (stages ? 256 : DEFAULT_WORKERS),
    requests: options.requests ?? (bounded ? undefined : DEFAULT_REQUESTS),
    durationMs: options.durationMs,
    open: stages ? { arrival: options.arrival, stages } : undefined,
  };
}

/** Where the synthesised default speech is cached: MODEL_CACHE_DIR if set, else the temp dir. */
export function speechCacheDir(env: NodeJS.ProcessEnv): string {
  return env.MODEL_CACHE_DIR
    ? join(env.MODEL_CACHE_DIR, 'load-test')
    : join(tmpdir(), 'voice-stack-load-test');
}

export async function buildTargets(
  options: LoadTestCliOptions,
  env: NodeJS.ProcessEnv,
): Promise<ServiceTarget[]> {
  const flags = options.flags;
  const targets: ServiceTarget[] = [];
  for (const service of options.services) {
    if (service === 'asr') {
      targets.push(
        asrTarget({
          baseUrl: flags.asrHost,
          apiKey: flags.apiKey,
          payloads: await asrPayloads(flags, env),
          model: flags.asrModel,
          responseFormat: flags.asrFormat,
        }),
      );
    } else {
      targets.push(
        ttsTarget({
          baseUrl: flags.ttsHost,
          apiKey: flags.apiKey,
          texts: await ttsTexts(flags),
          model: flags.ttsModel,
          voice: flags.ttsVoice,
          responseFormat: flags.ttsFormat,
          speed: Number(flags.ttsSpeed),
        }),
      );
    }
  }
  return targets;
}

async function asrPayloads(flags: RawLoadTestFlags, env: NodeJS.ProcessEnv): Promise<AudioPayload[]> {
  if (flags.audio && flags.audio.length > 0) return loadAudioFiles(flags.audio);
  return [await defaultSpeechPayload(speechCacheDir(env), (text) => synthesiseViaTts(flags, text))];
}

async function synthesiseViaTts(flags: RawLoadTestFlags, text: string): Promise<Buffer> {
  const response = await request(new URL('/v1/audio/speech', flags.ttsHost), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(flags.apiKey ? { authorization: `Bearer ${flags.apiKey}` } : {}),
    },
    body: JSON.stringify({
      model: flags.ttsModel,
      input: text,
      voice: flags.ttsVoice,
      response_format: 'wav',
    }),
  });
  const body = Buffer.from(await response.body.arrayBuffer());
  if (response.statusCode !== 200)
    throw new Error(`TTS fallback for the default speech failed: HTTP ${response.statusCode}`);
  return body;
}

async function ttsTexts(flags: RawLoadTestFlags): Promise<readonly string[]> {
  if (flags.textFile) {
    const lines = (await readFile(flags.textFile, 'utf8')).split('\n').map((line) => line.trim());
    const texts = lines.filter((line) => line !== '');
    if (texts.length === 0) throw new Error(`--text-file ${flags.textFile} has no text`);
    return texts;
  }
  if (flags.text && flags.text.length > 0) return flags.text;
  return DEFAULT_TTS_TEXTS;
}
