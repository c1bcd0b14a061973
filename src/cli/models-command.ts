/**
 * `voice-stack models list | pull NAME | rm NAME`: manage MODEL_CACHE_DIR from the
 * shell, e.g. to fetch a model before starting a server that has no network.
 */
import type { Command } from 'commander';
import { WHISPER_MODELS } from '../asr/model-catalog.js';
import { errorMessage } from '../core/errors.js';
import {
  type CacheableModel,
  type CachedFile,
  MODEL_FAMILIES,
  ModelCache,
} from '../core/models/model-cache.js';
import { DownloadErrorCodes, isDownloadError } from '../core/models/model-download.js';
import { DownloadProgressBar, formatBytes, type ProgressStream } from './download-progress.js';

export interface ModelsCommandOptions {
  /** Catalog entries besides the whisper models (piper voices, kokoro, …). */
  readonly entries?: readonly CacheableModel[];
  readonly stdout?: ProgressStream;
  readonly stderr?: ProgressStream;
}

interface Io {
  readonly entries: readonly CacheableModel[];
  readonly out: ProgressStream;
  readonly err: ProgressStream;
  readonly cache: () => ModelCache;
}

export function registerModelsCommand(
  program: Command,
  getCacheDir: () => string,
  options: ModelsCommandOptions = {},
): Command {
  const io: Io = {
    entries: [...WHISPER_MODELS, ...(options.entries ?? [])],
    out: options.stdout ?? process.stdout,
    err: options.stderr ?? process.stderr,
    cache: () => new ModelCache(getCacheDir()),
  };
  const models = program.command('models').description('list, download and delete models in MODEL_CACHE_DIR');
  models
    .command('list')
    .description('show the model catalog, with what is cached and its size')
    .action(() => listModels(io));
  models
    .command('pull')
    .description('download a model into the cache (resumes an interrupted download)')
    .argument('<name>', 'catalog name, e.g. base.en or small-q5_1')
    .action((name: string) => pullModel(io, name));
  models
    .command('rm')
    .alias('remove')
    .description('delete a cached model (and any partial download of it)')
    .argument('<name>', 'catalog name, or FAMILY/FILE for a file not in the catalog')
    .action((name: string) => removeModel(io, name));
  return models;
}

async function listModels(io: Io): Promise<void> {
  const cache = io.cache();
  const files = await cache.list();
  const byPath = new Map(files.map((file) => [`${file.family}/${file.fileName}/${file.partial}`, file]));
  io.out.write(`Model cache: ${cache.rootDir}\n\n`);
  const width = Math.max(...io.entries.map((entry) => entry.name.length)) + 2;
  for (const family of MODEL_FAMILIES) {
    const entries = io.entries.filter((entry) => entry.family === family);
    if (entries.length === 0) continue;
    io.out.write(`${family} models:\n`);
    for (const entry of entries) io.out.write(`  ${entryLine(entry, byPath, width)}\n`);
  }
  const others = files.filter(
    (file) => !io.entries.some((e) => e.family === file.family && e.fileName === file.fileName),
  );
  if (others.length > 0) io.out.write(`\nOther files in the cache:\n${others.map(otherLine).join('')}`);
}

function entryLine(entry: CacheableModel, files: Map<string, CachedFile>, width: number): string {
  const done = files.get(`${entry.family}/${entry.fileName}/false`);
  const part = files.get(`${entry.family}/${entry.fileName}/true`);
  const size = entry.sizeBytes === undefined ? '?' : formatBytes(entry.sizeBytes);
  let status = '';
  if (done && (entry.sizeBytes === undefined || done.sizeBytes === entry.sizeBytes)) status = 'cached';
  else if (done) status = `cached, wrong size (${formatBytes(done.sizeBytes)}): pull again`;
  else if (part) status = `partial ${percentOf(part.sizeBytes, entry.sizeBytes)}: pull to resume`;
  const mark = status.startsWith('cached') ? '*' : ' ';
  return `${mark} ${entry.name.padEnd(width)}${size.padStart(10)}  ${status}`.trimEnd();
}

function otherLine(file: CachedFile): string {
  const suffix = file.partial ? ' (partial download)' : '';
  return `  ${file.family}/${file.fileName}  ${formatBytes(file.sizeBytes)}${suffix}\n`;
}

function percentOf(bytes: number, total: number | undefined): string {
  return total ? `${Math.floor((bytes / total) * 100)}%` : formatBytes(bytes);
}

async function pullModel(io: Io, name: string): Promise<void> {
  const entry = findEntry(io, name);
  if (!entry) return;
  for (const file of [entry, ...(entry.companions ?? [])]) {
    if (!(await pullFile(io, file))) return;
  }
}

/** Downloads one file into the cache; false (and the exit code set) when it failed. */
async function pullFile(io: Io, entry: CacheableModel): Promise<boolean> {
  const cache = io.cache();
  if (await cache.isCached(entry)) {
    io.out.write(`${entry.name} is already cached: ${cache.pathFor(entry)}\n`);
    return true;
  }
  const reporter = new DownloadProgressBar({ label: entry.fileName, stream: io.err });
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  try {
    const path = await cache.ensure(entry, {
      onProgress: (p) => reporter.update(p),
      signal: controller.signal,
    });
    reporter.finish();
    io.out.write(`Saved ${entry.name} to ${path}\n`);
    return true;
  } catch (error) {
    reporter.fail();
    reportPullFailure(io, entry, error);
    return false;
  } finally {
    process.removeListener('SIGINT', onSignal);
  }
}

function reportPullFailure(io: Io, entry: CacheableModel, error: unknown): void {
  if (isDownloadError(error) && error.code === DownloadErrorCodes.aborted) {
    io.err.write(`Download of ${entry.name} interrupted; run the same command again to resume.\n`);
    process.exitCode = 130;
    return;
  }
  const message = errorMessage(error);
  const code = isDownloadError(error) ? ` [${error.code}]` : '';
  io.err.write(`Could not download model '${entry.name}': ${message}${code}\n`);
  process.exitCode = 1;
}

async function removeModel(io: Io, name: string): Promise<void> {
  const target = name.includes('/') ? parseCachePath(io, name) : findEntry(io, name);
  if (!target) return;
  const companions: readonly CacheableModel[] = (target as Partial<CacheableModel>).companions ?? [];
  try {
    const cache = io.cache();
    for (const file of [target, ...companions]) {
      const removed = await cache.remove(file);
      if (removed) io.out.write(`Removed ${cache.pathFor(file)}\n`);
      else if (file === target) io.out.write(`${name} is not in the cache.\n`);
    }
  } catch (error) {
    io.err.write(`Could not remove '${name}': ${errorMessage(error)}\n`);
    process.exitCode = 1;
  }
}

function findEntry(io: Io, name: string): CacheableModel | undefined {
  const wanted = name.trim().toLowerCase();
  const entry = io.entries.find((e) => e.name.toLowerCase() === wanted);
  if (entry) return entry;
  io.err.write(`Unknown model '${name}'. Run 'voice-stack models list' to see the names.\n`);
  process.exitCode = 1;
  return undefined;
}

function parseCachePath(io: Io, name: string): Pick<CacheableModel, 'family' | 'fileName'> | undefined {
  const [family, fileName, ...rest] = name.split('/');
  if (rest.length === 0 && family && fileName && (MODEL_FAMILIES as readonly string[]).includes(family)) {
    return { family: family as CacheableModel['family'], fileName };
  }
  io.err.write(
    `'${name}' is not FAMILY/FILE (FAMILY: ${MODEL_FAMILIES.join(', ')}; FILE: a bare file name).\n`,
  );
  process.exitCode = 1;
  return undefined;
}
