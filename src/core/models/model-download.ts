/**
 * Downloads one file to `destination` through `destination.part`: resumes with a
 * Range request after a cut connection (and across process restarts, since the
 * `.part` stays on disk), verifies size and SHA-256/SHA-1, and only then renames
 * the file into place — a file under its final name is always complete.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, type Dispatcher, interceptors, request } from 'undici';
import { AppError, errorMessage } from '../errors.js';

export const PART_SUFFIX = '.part';

export const DownloadErrorCodes = {
  checksum: 'VS_ERR_DOWNLOAD_CHECKSUM',
  size: 'VS_ERR_DOWNLOAD_SIZE',
  http: 'VS_ERR_DOWNLOAD_HTTP',
  network: 'VS_ERR_DOWNLOAD_NETWORK',
  aborted: 'VS_ERR_DOWNLOAD_ABORTED',
  io: 'VS_ERR_DOWNLOAD_IO',
} as const;
export type DownloadErrorCode = (typeof DownloadErrorCodes)[keyof typeof DownloadErrorCodes];

export class DownloadError extends AppError {
  declare readonly code: DownloadErrorCode;
  readonly url: string;
  /** The HTTP status, for `VS_ERR_DOWNLOAD_HTTP`. */
  readonly statusCode: number | undefined;
  /** Whether another attempt (resuming) may succeed. */
  readonly retryable: boolean;

  constructor(
    code: DownloadErrorCode,
    url: string,
    message: string,
    options: { statusCode?: number; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.url = url;
    this.statusCode = options.statusCode;
    this.retryable = options.retryable ?? false;
  }
}

export function isDownloadError(error: unknown): error is DownloadError {
  return error instanceof DownloadError;
}

export interface DownloadProgress {
  /** Bytes of the file on disk so far (resumed bytes included). */
  readonly receivedBytes: number;
  readonly totalBytes: number | undefined;
  /** Bytes that were already on disk when the current request started. */
  readonly resumedFromBytes: number;
}

export interface DownloadFileOptions {
  readonly url: string;
  readonly destination: string;
  readonly expectedSize?: number;
  readonly sha256?: string;
  readonly sha1?: string;
  /** Only for files whose publisher gives MD5 alone (Piper's voices.json). */
  readonly md5?: string;
  readonly onProgress?: (progress: DownloadProgress) => void;
  readonly signal?: AbortSignal;
  /** Longest wait for response headers, and for each chunk of the body. Default 30 s. */
  readonly fetchTimeoutMs?: number;
  /** Retries after a cut connection or a 5xx, each resuming where the last stopped. Default 6. */
  readonly maxRetries?: number;
  /** First backoff delay; doubles per retry up to 30 s. Default 1 s. */
  readonly retryDelayMs?: number;
  readonly dispatcher?: Dispatcher;
}

export interface DownloadResult {
  readonly path: string;
  readonly sizeBytes: number;
  readonly sha256: string;
}

const MAX_BACKOFF_MS = 30_000;
const RETRYABLE_ERRNO = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);

let defaultDispatcher: Dispatcher | undefined;

// Hugging Face answers /resolve/ with a redirect to its CDN; undici 7 follows
// redirects only through this interceptor.
function redirectingDispatcher(): Dispatcher {
  defaultDispatcher ??= new Agent().compose(interceptors.redirect({ maxRedirections: 5 }));
  return defaultDispatcher;
}

export async function downloadFile(options: DownloadFileOptions): Promise<DownloadResult> {
  const partPath = options.destination + PART_SUFFIX;
  await mkdir(dirname(options.destination), { recursive: true }).catch((error: unknown) => {
    throw ioError(options.url, `cannot create ${dirname(options.destination)}`, error);
  });
  const part = await PartFile.open(partPath, options);
  const resumedAtStart = part.received > 0;
  try {
    return await downloadInto(part, options);
  } catch (error) {
    // Bytes kept from an earlier run may belong to an older upload of the file:
    // one fresh download before reporting a mismatch.
    if (resumedAtStart && isVerificationError(error)) {
      return downloadInto(await PartFile.open(partPath, options), options);
    }
    throw error;
  }
}

async function downloadInto(part: PartFile, options: DownloadFileOptions): Promise<DownloadResult> {
  try {
    await fetchWithRetries(part, options);
    await part.close();
    const sha256 = verify(part, options);
    await rename(part.path, options.destination);
    return { path: options.destination, sizeBytes: part.received, sha256 };
  } catch (error) {
    await part.close();
    if (isVerificationError(error)) await rm(part.path, { force: true });
    throw error;
  }
}

function isVerificationError(error: unknown): boolean {
  return (
    isDownloadError(error) &&
    (error.code === DownloadErrorCodes.checksum || error.code === DownloadErrorCodes.size)
  );
}

async function fetchWithRetries(part: PartFile, options: DownloadFileOptions): Promise<void> {
  const maxRetries = options.maxRetries ?? 6;
  for (let failures = 0; ; ) {
    try {
      await fetchOnce(part, options);
      return;
    } catch (caught) {
      const error = toDownloadError(caught, options);
      if (!error.retryable || failures >= maxRetries) throw error;
      failures += 1;
      await backoff(failures, options);
    }
  }
}

async function backoff(failures: number, options: DownloadFileOptions): Promise<void> {
  const delay = Math.min(MAX_BACKOFF_MS, (options.retryDelayMs ?? 1000) * 2 ** (failures - 1));
  try {
    await sleep(delay, undefined, { signal: options.signal });
  } catch (error) {
    throw toDownloadError(error, options);
  }
}

/** One HTTP request; resolves once the file is complete, throws (retryable or not) otherwise. */
async function fetchOnce(part: PartFile, options: DownloadFileOptions): Promise<void> {
  if (options.expectedSize !== undefined && part.received === options.expectedSize) return;
  const response = await sendRequest(part.received, options);
  try {
    const plan = planResponse(response, part.received, options);
    if (plan.kind === 'complete') return;
    if (plan.kind === 'start-over') {
      await part.restart();
      throw networkError(options.url, plan.reason);
    }
    if (plan.kind === 'restart') await part.restart();
    part.total = plan.total ?? options.expectedSize;
    checkAnnouncedSize(part.total, options);
    await receiveBody(response.body, part, options);
  } finally {
    discard(response.body);
  }
  if (part.total !== undefined && part.received < part.total) {
    throw networkError(options.url, `connection closed after ${part.received} of ${part.total} bytes`);
  }
}

/** Frees the connection of a body we will not read; its abort error is expected, not a failure. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  body.destroy();
}

function sendRequest(offset: number, options: DownloadFileOptions): Promise<Dispatcher.ResponseData> {
  const timeout = options.fetchTimeoutMs ?? 30_000;
  const headers: Record<string, string> = { 'user-agent': 'voice-stack', 'accept-encoding': 'identity' };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  return request(options.url, {
    method: 'GET',
    headers,
    signal: options.signal,
    headersTimeout: timeout,
    bodyTimeout: timeout,
    dispatcher: options.dispatcher ?? redirectingDispatcher(),
  });
}

type ResponsePlan =
  | { kind: 'append'; total: number | undefined }
  | { kind: 'restart'; total: number | undefined }
  | { kind: 'complete' }
  /** The server will not continue from our offset: empty the part and retry from byte 0. */
  | { kind: 'start-over'; reason: string };

function planResponse(
  response: Dispatcher.ResponseData,
  offset: number,
  options: DownloadFileOptions,
): ResponsePlan {
  const status = response.statusCode;
  if (status === 200) return { kind: 'restart', total: numberHeader(response.headers['content-length']) };
  if (status === 206) return planPartial(response, offset);
  if (status === 416 && offset > 0) return planUnsatisfiable(response, offset);
  const retryable = status === 408 || status === 429 || status >= 500;
  throw new DownloadError(DownloadErrorCodes.http, options.url, `HTTP ${status} from ${options.url}`, {
    statusCode: status,
    retryable,
  });
}

function planPartial(response: Dispatcher.ResponseData, offset: number): ResponsePlan {
  const range = parseContentRange(response.headers['content-range']);
  if (range?.start !== offset) {
    return { kind: 'start-over', reason: `server answered Range bytes=${offset}- with a different range` };
  }
  return { kind: 'append', total: range.total };
}

function planUnsatisfiable(response: Dispatcher.ResponseData, offset: number): ResponsePlan {
  const range = parseContentRange(response.headers['content-range']);
  if (range?.total === offset) return { kind: 'complete' };
  return { kind: 'start-over', reason: `server refused Range bytes=${offset}-` };
}

function checkAnnouncedSize(total: number | undefined, options: DownloadFileOptions): void {
  if (total === undefined || options.expectedSize === undefined || total === options.expectedSize) return;
  throw new DownloadError(
    DownloadErrorCodes.size,
    options.url,
    `size mismatch for ${options.url}: the server has ${total} bytes, expected ${options.expectedSize}`,
  );
}

async function receiveBody(body: AsyncIterable<Buffer>, part: PartFile, options: DownloadFileOptions) {
  const resumedFromBytes = part.received;
  for await (const chunk of body) {
    await part.append(chunk);
    if (options.expectedSize !== undefined && part.received > options.expectedSize) {
      throw new DownloadError(
        DownloadErrorCodes.size,
        options.url,
        `size mismatch for ${options.url}: received more than the expected ${options.expectedSize} bytes`,
      );
    }
    options.onProgress?.({ receivedBytes: part.received, totalBytes: part.total, resumedFromBytes });
  }
}

function verify(part: PartFile, options: DownloadFileOptions): string {
  const expectedSize = options.expectedSize ?? part.total;
  if (expectedSize !== undefined && part.received !== expectedSize) {
    throw new DownloadError(
      DownloadErrorCodes.size,
      options.url,
      `size mismatch for ${options.url}: got ${part.received} bytes, expected ${expectedSize}`,
    );
  }
  const digests = part.digests();
  checkDigest('SHA-256', options.sha256, digests.sha256, options.url);
  checkDigest('SHA-1', options.sha1, digests.sha1, options.url);
  checkDigest('MD5', options.md5, digests.md5, options.url);
  return digests.sha256 ?? '';
}

function checkDigest(label: string, expected: string | undefined, actual: string | undefined, url: string) {
  if (expected === undefined || expected.toLowerCase() === actual) return;
  throw new DownloadError(
    DownloadErrorCodes.checksum,
    url,
    `checksum mismatch for ${url}: ${label} is ${actual}, expected ${expected.toLowerCase()}; the file was deleted`,
  );
}

type DigestName = 'sha256' | 'sha1' | 'md5';

/** The `.part` file: appends, keeps running digests, and can start over. */
class PartFile {
  readonly path: string;
  received = 0;
  total: number | undefined;
  #handle: FileHandle | undefined;
  /** SHA-256 always (it is reported); SHA-1 and MD5 only when the catalog gives them. */
  readonly #wanted: readonly DigestName[];
  #hashes: Map<DigestName, Hash>;

  private constructor(path: string, handle: FileHandle, wanted: readonly DigestName[]) {
    this.path = path;
    this.#handle = handle;
    this.#wanted = wanted;
    this.#hashes = PartFile.#freshHashes(wanted);
  }

  static #freshHashes(wanted: readonly DigestName[]): Map<DigestName, Hash> {
    return new Map(wanted.map((name) => [name, createHash(name)]));
  }

  /** Opens (or creates) the part file and hashes what is already there. */
  static async open(path: string, options: DownloadFileOptions): Promise<PartFile> {
    try {
      const existing = await existingSize(path);
      if (options.expectedSize !== undefined && existing > options.expectedSize) await rm(path);
      const wanted: DigestName[] = ['sha256'];
      if (options.sha1 !== undefined) wanted.push('sha1');
      if (options.md5 !== undefined) wanted.push('md5');
      const part = new PartFile(path, await open(path, 'a'), wanted);
      await part.#rehash();
      return part;
    } catch (error) {
      throw ioError(options.url, `cannot open ${path}`, error);
    }
  }

  async append(chunk: Buffer): Promise<void> {
    await this.#requireHandle().write(chunk);
    for (const hash of this.#hashes.values()) hash.update(chunk);
    this.received += chunk.length;
  }

  async restart(): Promise<void> {
    await this.#requireHandle().truncate(0);
    this.#hashes = PartFile.#freshHashes(this.#wanted);
    this.received = 0;
  }

  digests(): Partial<Record<DigestName, string>> {
    return Object.fromEntries([...this.#hashes].map(([name, hash]) => [name, hash.copy().digest('hex')]));
  }

  /** Flushes to disk before the rename, so a crash cannot leave a short file under the final name. */
  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    if (!handle) return;
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }

  async #rehash(): Promise<void> {
    for await (const chunk of createReadStream(this.path)) {
      for (const hash of this.#hashes.values()) hash.update(chunk as Buffer);
      this.received += (chunk as Buffer).length;
    }
  }

  #requireHandle(): FileHandle {
    if (!this.#handle) throw new Error(`${this.path} is closed`);
    return this.#handle;
  }
}

async function existingSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

function toDownloadError(error: unknown, options: DownloadFileOptions): DownloadError {
  if (options.signal?.aborted) {
    return new DownloadError(
      DownloadErrorCodes.aborted,
      options.url,
      `download of ${options.url} was cancelled; the partial file is kept and the next attempt resumes`,
      { cause: error },
    );
  }
  if (isDownloadError(error)) return error;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && (code.startsWith('UND_ERR_') || RETRYABLE_ERRNO.has(code))) {
    const detail = errorMessage(error);
    return networkError(options.url, `${detail} (${code})`, { cause: error });
  }
  return ioError(options.url, 'download failed', error);
}

function networkError(url: string, detail: string, extra: { cause?: unknown } = {}): DownloadError {
  return new DownloadError(DownloadErrorCodes.network, url, `network error downloading ${url}: ${detail}`, {
    retryable: true,
    cause: extra.cause,
  });
}

function ioError(url: string, detail: string, cause: unknown): DownloadError {
  const reason = errorMessage(cause);
  return new DownloadError(DownloadErrorCodes.io, url, `${detail}: ${reason}`, { cause });
}

function numberHeader(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

/** `bytes 100-199/1000` → {start: 100, total: 1000}; `bytes * /1000` → {start: undefined, total: 1000}. */
export function parseContentRange(
  value: string | string[] | undefined,
): { start: number | undefined; total: number | undefined } | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i.exec(value.trim());
  if (!match) return undefined;
  const start = match[1] === undefined ? undefined : Number(match[1]);
  const total = match[2] === undefined || match[2] === '*' ? undefined : Number(match[2]);
  return { start, total };
}
