/**
 * The on-disk model cache (MODEL_CACHE_DIR): one subfolder per engine family,
 * files named exactly as their upstream publishes them. Downloads go through
 * downloadFile (a `.part` file, resumed and verified), so a file under its final
 * name is always a complete, checked copy.
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { invalidParameterError } from '../errors.js';
import { DEFAULT_MODEL_CACHE_DIR } from './cache-dir.js';
import { type DownloadProgress, downloadFile, PART_SUFFIX } from './model-download.js';

export const MODEL_FAMILIES = ['whisper', 'piper', 'kokoro'] as const;
export type ModelFamily = (typeof MODEL_FAMILIES)[number];

/** What the cache needs to know about a downloadable file; catalogs provide these. */
export interface CacheableModel {
  readonly family: ModelFamily;
  /** The name a user types (`base.en`, `base-q5_1`). */
  readonly name: string;
  readonly fileName: string;
  readonly url: string;
  readonly sizeBytes?: number;
  readonly sha256?: string;
  /** Only for files whose publisher gives no SHA-256. */
  readonly sha1?: string;
  /** Only for files whose publisher gives MD5 alone (Piper). Weak against tampering, fine for corruption. */
  readonly md5?: string;
  /** Files useless without this one and it without them (a Piper voice's .onnx.json): pulled and removed with it. */
  readonly companions?: readonly CacheableModel[];
}

export interface CachedFile {
  readonly family: ModelFamily;
  readonly fileName: string;
  readonly path: string;
  readonly sizeBytes: number;
  /** An interrupted download that `ensure` will resume. */
  readonly partial: boolean;
}

export interface EnsureOptions {
  readonly onProgress?: (progress: DownloadProgress) => void;
  readonly signal?: AbortSignal;
}

// Upstream file names are plain: letters, digits, dot, dash, underscore. Anything
// else (separators, `..`, a leading dot) could name a file outside the cache.
const SAFE_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

export function validateCacheFileName(fileName: string): void {
  if (!SAFE_FILE_NAME.test(fileName) || fileName.includes('..')) {
    throw invalidParameterError(
      'model',
      `'${fileName}' is not a valid model file name (letters, digits, '.', '-', '_' only; no paths)`,
    );
  }
}

function validateFamily(family: string): asserts family is ModelFamily {
  if (!(MODEL_FAMILIES as readonly string[]).includes(family)) {
    throw invalidParameterError('model', `unknown model family '${family}' (${MODEL_FAMILIES.join(', ')})`);
  }
}

export class ModelCache {
  readonly rootDir: string;
  readonly #inFlight = new Map<string, Promise<string>>();

  constructor(rootDir: string = DEFAULT_MODEL_CACHE_DIR) {
    this.rootDir = resolve(rootDir);
  }

  /** Where `entry` lives in the cache; throws for a name that would leave the cache folder. */
  pathFor(entry: Pick<CacheableModel, 'family' | 'fileName'>): string {
    validateFamily(entry.family);
    validateCacheFileName(entry.fileName);
    const path = resolve(this.rootDir, entry.family, entry.fileName);
    const rel = relative(this.rootDir, path);
    if (rel.startsWith('..') || rel.includes(`..${sep}`) || resolve(this.rootDir, rel) !== path) {
      throw invalidParameterError('model', `'${entry.fileName}' resolves outside the model cache`);
    }
    return path;
  }

  /** True when the complete file is present (size checked; the hash was checked when it was written). */
  async isCached(entry: CacheableModel): Promise<boolean> {
    const size = await fileSize(this.pathFor(entry));
    if (size === undefined) return false;
    return entry.sizeBytes === undefined || size === entry.sizeBytes;
  }

  /** Bytes already downloaded into an unfinished `.part`, or 0. */
  async partialBytes(entry: CacheableModel): Promise<number> {
    return (await fileSize(this.pathFor(entry) + PART_SUFFIX)) ?? 0;
  }

  async list(): Promise<CachedFile[]> {
    const files: CachedFile[] = [];
    for (const family of MODEL_FAMILIES) {
      files.push(...(await this.#listFamily(family)));
    }
    return files;
  }

  /** Deletes the file and any partial download of it; resolves false when there was nothing to delete. */
  async remove(entry: Pick<CacheableModel, 'family' | 'fileName'>): Promise<boolean> {
    const path = this.pathFor(entry);
    const existed =
      (await fileSize(path)) !== undefined || (await fileSize(path + PART_SUFFIX)) !== undefined;
    await rm(path, { force: true });
    await rm(path + PART_SUFFIX, { force: true });
    return existed;
  }

  /**
   * The path of the cached file, downloading it first when it is missing.
   * Concurrent callers for the same file share one download.
   */
  async ensure(entry: CacheableModel, options: EnsureOptions = {}): Promise<string> {
    const path = this.pathFor(entry);
    if (await this.isCached(entry)) return path;
    const running = this.#inFlight.get(path);
    if (running) return running;
    const download = this.#download(entry, path, options).finally(() => this.#inFlight.delete(path));
    this.#inFlight.set(path, download);
    return download;
  }

  async #download(entry: CacheableModel, path: string, options: EnsureOptions): Promise<string> {
    await mkdir(join(this.rootDir, entry.family), { recursive: true });
    await downloadFile({
      url: entry.url,
      destination: path,
      expectedSize: entry.sizeBytes,
      sha256: entry.sha256,
      sha1: entry.sha1,
      md5: entry.md5,
      onProgress: options.onProgress,
      signal: options.signal,
    });
    return path;
  }

  async #listFamily(family: ModelFamily): Promise<CachedFile[]> {
    const dir = join(this.rootDir, family);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
    const files: CachedFile[] = [];
    for (const name of names.sort()) {
      const partial = name.endsWith(PART_SUFFIX);
      const fileName = partial ? name.slice(0, -PART_SUFFIX.length) : name;
      const size = await fileSize(join(dir, name));
      if (size === undefined) continue;
      files.push({ family, fileName, path: join(dir, name), sizeBytes: size, partial });
    }
    return files;
  }
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : undefined;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
