/**
 * What `voice-stack doctor` finds out about this machine: each check gathers facts
 * and, where something will stop a service from working, a problem that says what
 * to do. Warnings are facts worth knowing that do not stop a start.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { arch, availableParallelism, cpus, platform, release } from 'node:os';
import { join } from 'node:path';
import { describeCurrentWhisper } from '../asr/engines/current-whisper.js';
import { describeNativeBuild } from '../asr/engines/smart-whisper.js';
import { resolveWhisperModel } from '../asr/model-catalog.js';
import { ModelCache } from '../core/models/model-cache.js';
import { runProcess } from '../core/run-process.js';
import { ResourceMonitor, type ResourceReading } from '../core/runtime/resource-guard.js';
import type { ServiceName, Settings } from '../core/settings.js';

export type Severity = 'error' | 'warning';

export interface Finding {
  readonly severity: Severity;
  readonly message: string;
}

export interface DoctorReport {
  readonly node: { version: string; required: string; ok: boolean };
  readonly system: { platform: string; release: string; arch: string };
  readonly cpu: { model: string; cores: number };
  readonly gpus: readonly string[];
  readonly resources: ResourceReading;
  readonly cgroup: { version: 'v1' | 'v2' | 'none'; memoryMax: string; swapMax: string; cpuMax: string };
  readonly tools: Record<'ffmpeg' | 'espeak-ng', string | undefined>;
  /** The whisper.cpp build ASR runs on the CPU (ASR_WHISPER_BUILD, from `npm install`); undefined when none is. */
  readonly whisperBuild: string | undefined;
  /** Why ASR_WHISPER_BUILD=current can't be used (the bundled build runs instead); undefined when it can or wasn't asked for. */
  readonly whisperCurrentProblem: string | undefined;
  readonly models: { cacheDir: string; cached: readonly string[]; asrModel: string; asrModelCached: boolean };
  readonly ports: Record<ServiceName, { port: number; free: boolean }>;
  readonly settings: Record<string, string>;
  readonly findings: readonly Finding[];
}

export const REQUIRED_NODE = '20.18.1';

export async function diagnose(settings: Settings, settingsProblems: readonly string[] = []) {
  const [gpus, ffmpeg, espeak, models, ports] = await Promise.all([
    findGpus(),
    toolVersion('ffmpeg', ['-version']),
    toolVersion('espeak-ng', ['--version']),
    modelStatus(settings),
    portStatus(settings),
  ]);
  const partial = {
    node: { version: process.versions.node, required: REQUIRED_NODE, ok: atLeast(process.versions.node) },
    system: { platform: platform(), release: release(), arch: arch() },
    cpu: { model: cpus()[0]?.model.trim() ?? 'unknown', cores: availableParallelism() },
    gpus,
    resources: new ResourceMonitor().read(),
    cgroup: readCgroup(),
    tools: { ffmpeg, 'espeak-ng': espeak },
    ...cpuWhisperBuild(settings),
    models,
    ports,
    settings: effectiveSettings(settings),
  };
  return { ...partial, findings: findingsFor(partial, settings, settingsProblems) } satisfies DoctorReport;
}

/** Which whisper.cpp the ASR service would run on the CPU, as whisper-cpp.ts chooses it. */
function cpuWhisperBuild(settings: Settings): Pick<DoctorReport, 'whisperBuild' | 'whisperCurrentProblem'> {
  if (settings.asr.whisperBuild === 'bundled') {
    return { whisperBuild: describeNativeBuild(), whisperCurrentProblem: undefined };
  }
  const current = describeCurrentWhisper();
  return 'build' in current
    ? { whisperBuild: current.build, whisperCurrentProblem: undefined }
    : { whisperBuild: describeNativeBuild(), whisperCurrentProblem: current.problem };
}

function atLeast(version: string): boolean {
  const have = version.split('.').map(Number);
  const need = REQUIRED_NODE.split('.').map(Number);
  for (let i = 0; i < need.length; i++) {
    const diff = (have[i] ?? 0) - (need[i] ?? 0);
    if (diff !== 0) return diff > 0;
  }
  return true;
}

/** The first line a tool prints about its version, or undefined when it is not installed. */
async function toolVersion(command: string, args: string[]): Promise<string | undefined> {
  try {
    const stdout = (await runProcess(command, args, { timeoutMs: 10_000 })).stdout.toString('utf8');
    return stdout.split('\n')[0]?.trim() || command;
  } catch {
    return undefined;
  }
}

/** NVIDIA GPUs as nvidia-smi names them; device nodes alone when the tool is missing. */
async function findGpus(): Promise<string[]> {
  try {
    const query = ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'];
    const stdout = (await runProcess('nvidia-smi', query, { timeoutMs: 10_000 })).stdout.toString('utf8');
    return stdout
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.length > 0);
  } catch {
    return existsSync('/dev/nvidia0') ? ['/dev/nvidia0 present, but nvidia-smi did not answer'] : [];
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The cgroup limits of this process: what a container or a systemd MemoryMax enforces. */
function readCgroup(): DoctorReport['cgroup'] {
  const lines = readText('/proc/self/cgroup')?.split('\n') ?? [];
  const v1Memory = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
  if (v1Memory !== undefined) return readCgroupV1(lines, v1Memory);
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (v2 === undefined) return { version: 'none', memoryMax: 'n/a', swapMax: 'n/a', cpuMax: 'n/a' };
  const dir = join('/sys/fs/cgroup', v2.slice(3));
  return {
    version: 'v2',
    memoryMax: describeLimit(readText(join(dir, 'memory.max')), megabytes),
    swapMax: describeLimit(readText(join(dir, 'memory.swap.max')), megabytes),
    cpuMax: describeLimit(readText(join(dir, 'cpu.max')), cpuQuota),
  };
}

/** Older hosts (and some sandboxes) still mount the v1 hierarchy, one folder per controller. */
function readCgroupV1(lines: string[], memoryLine: string): DoctorReport['cgroup'] {
  const memoryDir = join('/sys/fs/cgroup/memory', memoryLine.split(':')[2] ?? '/');
  const cpuLine = lines.find((l) => /^\d+:([^:]*,)?cpu(,[^:]*)?:/.test(l));
  const cpuDir = join('/sys/fs/cgroup/cpu', cpuLine?.split(':')[2] ?? '/');
  const quota = readText(join(cpuDir, 'cpu.cfs_quota_us'));
  const period = readText(join(cpuDir, 'cpu.cfs_period_us'));
  return {
    version: 'v1',
    memoryMax: describeLimit(v1Bytes(readText(join(memoryDir, 'memory.limit_in_bytes'))), megabytes),
    swapMax: describeLimit(v1Bytes(readText(join(memoryDir, 'memory.memsw.limit_in_bytes'))), megabytes),
    cpuMax: quota === undefined ? 'n/a' : quota === '-1' ? 'no limit' : cpuQuota(`${quota} ${period}`),
  };
}

/** v1 says "no limit" with a number near 2^63. */
function v1Bytes(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Number(value) >= 2 ** 60 ? 'max' : value;
}

function megabytes(value: string): string {
  return `${Math.round(Number(value) / 2 ** 20)} MB`;
}

function describeLimit(value: string | undefined, format: (value: string) => string): string {
  if (value === undefined) return 'n/a';
  return value === 'max' || value.startsWith('max ') ? 'no limit' : format(value);
}

function cpuQuota(value: string): string {
  const [quota, period] = value.split(' ').map(Number);
  return quota && period ? `${(quota / period).toFixed(2)} CPUs` : value;
}

async function modelStatus(settings: Settings) {
  const cache = new ModelCache(settings.modelCacheDir);
  const files = await cache.list().catch(() => []);
  const cached = files.filter((f) => !f.partial).map((f) => `${f.family}/${f.fileName}`);
  let asrModelCached = false;
  try {
    const resolution = resolveWhisperModel(settings.asr.model, settings.asr.computeType);
    asrModelCached =
      resolution.kind === 'path' ? existsSync(resolution.path) : await cache.isCached(resolution.entry);
  } catch {
    // An unknown ASR_MODEL is reported by the settings findings below.
  }
  return { cacheDir: settings.modelCacheDir, cached, asrModel: settings.asr.model, asrModelCached };
}

async function portStatus(settings: Settings): Promise<DoctorReport['ports']> {
  const [asr, tts] = await Promise.all([
    isPortFree(settings.host, settings.asr.port),
    isPortFree(settings.host, settings.tts.port),
  ]);
  return { asr: { port: settings.asr.port, free: asr }, tts: { port: settings.tts.port, free: tts } };
}

/** Binds the port for a moment: the only sure test that a server could listen on it. */
function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolvePromise(true)));
  });
}

/** Every setting as the services will see it; the API key only as set or not. */
export function effectiveSettings(settings: Settings): Record<string, string> {
  const out: Record<string, string> = {
    HOST: settings.host,
    ASR_PORT: String(settings.asr.port),
    TTS_PORT: String(settings.tts.port),
    ASR_ENGINE: settings.asr.engine,
    ASR_MODEL: settings.asr.model,
    ASR_DEVICE: settings.asr.device,
    ASR_COMPUTE_TYPE: settings.asr.computeType,
    ASR_CPU_THREADS: String(settings.asr.cpuThreads),
    ASR_WHISPER_BUILD: settings.asr.whisperBuild,
    ASR_VAD_MODEL: settings.asr.vadModel ?? '(not set: vad_filter transcribes all audio)',
    TTS_ENGINE: settings.tts.engine,
    TTS_MODEL: settings.tts.model ?? '(engine default)',
    TTS_VOICE: settings.tts.voice ?? '(engine default)',
    TTS_DEVICE: settings.tts.device,
    MAX_TEXT_CHARS: String(settings.tts.maxTextChars),
    MAX_SPEECH_SECONDS: String(settings.tts.maxSpeechSeconds),
    MAX_REALTIME_SESSIONS: String(settings.asr.maxRealtimeSessions),
    REALTIME_IDLE_TIMEOUT_SECONDS: String(settings.asr.realtimeIdleTimeoutSeconds),
  };
  for (const service of ['asr', 'tts'] as const) {
    const s = settings[service];
    const prefix = service.toUpperCase();
    out[`${prefix}_MAX_CONCURRENT_REQUESTS`] = String(s.maxConcurrentRequests);
    out[`${prefix}_MAX_QUEUE_SIZE`] = String(s.maxQueueSize);
    out[`${prefix}_IDLE_TIMEOUT_MINUTES`] = String(s.idleTimeoutMinutes);
  }
  return { ...out, ...sharedSettings(settings) };
}

function sharedSettings(settings: Settings): Record<string, string> {
  return {
    QUEUE_TIMEOUT_SECONDS: String(settings.queueTimeoutSeconds),
    MEMORY_THRESHOLD_PERCENT: String(settings.memoryThresholdPercent),
    SWAP_THRESHOLD_PERCENT: String(settings.swapThresholdPercent),
    MAX_UPLOAD_SIZE_MB: String(settings.maxUploadSizeMb),
    MODEL_CACHE_DIR: settings.modelCacheDir,
    API_KEY: settings.apiKey === undefined ? '(not set: no authentication)' : '(set, hidden)',
    METRICS_REQUIRE_API_KEY: String(settings.metricsRequireApiKey),
    LISTINGS_REQUIRE_API_KEY: String(settings.listingsRequireApiKey),
    CORS_ORIGINS: settings.corsOrigins.length > 0 ? settings.corsOrigins.join(',') : '(not set)',
    LOG_LEVEL: settings.logLevel,
    SHUTDOWN_GRACE_SECONDS: String(settings.shutdownGraceSeconds),
    ...wyomingSettings(settings),
    ...jobSettings(settings),
  };
}

function wyomingSettings(settings: Settings): Record<string, string> {
  const port = (listener: Settings['wyoming']['asr']) =>
    listener !== undefined
      ? String(listener.port)
      : settings.apiKey === undefined
        ? 'off'
        : 'off (API_KEY is set and Wyoming has no authentication)';
  return {
    WYOMING_ASR_PORT: port(settings.wyoming.asr),
    WYOMING_TTS_PORT: port(settings.wyoming.tts),
    WYOMING_ZEROCONF: String(settings.wyoming.zeroconf),
  };
}

function jobSettings({ jobs }: Settings): Record<string, string> {
  return {
    REDIS_URL: jobs.redisUrl === undefined ? '(not set: no jobs API, no workers)' : redactUrl(jobs.redisUrl),
    JOB_RETENTION_HOURS: String(jobs.retentionHours),
    JOB_LOCK_SECONDS: String(jobs.lockSeconds),
    JOB_SPLIT_MINUTES: String(jobs.splitMinutes),
    WEBHOOK_SECRET: jobs.webhookSecret === undefined ? '(not set: no webhooks)' : '(set, hidden)',
    WEBHOOK_ALLOW_PRIVATE: String(jobs.webhookAllowPrivate),
    WEBHOOK_MAX_ATTEMPTS: String(jobs.webhookMaxAttempts),
    ASR_JOBS_WORKER: String(jobs.worker),
    ASR_DISPATCH: jobs.dispatch,
    WORKER_METRICS_PORT: String(jobs.workerMetricsPort),
  };
}

/** A URL with its password hidden. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(set)';
  }
}

type Facts = Omit<DoctorReport, 'findings'>;

function findingsFor(facts: Facts, settings: Settings, settingsProblems: readonly string[]): Finding[] {
  const findings: Finding[] = settingsProblems.map((message) => ({ severity: 'error', message }));
  const error = (message: string) => findings.push({ severity: 'error', message });
  const warn = (message: string) => findings.push({ severity: 'warning', message });
  if (!facts.node.ok) error(`Node ${facts.node.version} is too old: install Node ${REQUIRED_NODE} or newer.`);
  if (facts.tools.ffmpeg === undefined) error('ffmpeg not found: install it (apt-get install ffmpeg).');
  if (facts.tools['espeak-ng'] === undefined && settings.tts.engine === 'espeak-ng') {
    error('espeak-ng not found: install it (apt-get install espeak-ng) or choose another TTS_ENGINE.');
  }
  if (facts.whisperCurrentProblem !== undefined) {
    warn(
      `whisper.cpp 1.8.3 (prebuilt, ASR_WHISPER_BUILD=current) cannot be used: ${facts.whisperCurrentProblem}. ` +
        'ASR runs the older bundled build instead.',
    );
  }
  if (facts.whisperBuild === undefined) {
    warn(
      'whisper.cpp was not compiled for this CPU: ASR falls back to a prebuilt binary without AVX, many times ' +
        'slower. Install g++, make and python3, then run `npm install`.',
    );
  }
  if (settings.asr.device === 'cuda' && facts.gpus.length === 0) {
    error('ASR_DEVICE=cuda but no NVIDIA GPU was found: use ASR_DEVICE=auto or cpu.');
  }
  if (!facts.models.asrModelCached) {
    warn(`ASR model '${facts.models.asrModel}' is not cached: the first request downloads it.`);
  }
  for (const service of ['asr', 'tts'] as const) {
    const { port, free } = facts.ports[service];
    if (!free) warn(`${service.toUpperCase()}_PORT ${port} is in use (a running voice-stack, or a clash).`);
  }
  const { memory } = facts.resources;
  if (memory.percent > settings.memoryThresholdPercent) {
    warn(`Memory use ${memory.percent}% is above MEMORY_THRESHOLD_PERCENT: new work would be refused.`);
  }
  return findings;
}
