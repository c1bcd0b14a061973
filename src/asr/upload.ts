import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import multipart, { type MultipartFile } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import {
  fileTooLargeError,
  invalidParameterError,
  isVoiceStackError,
  resourceThresholdError,
} from '../core/errors.js';
import type { ServiceApp } from '../core/http/service-app-type.js';
import { sweepStaleSpools } from '../core/stale-spools.js';

/** An uploaded file, spooled to disk so that queued requests hold no audio in memory. */
export interface UploadedFile {
  readonly kind: 'upload';
  readonly path: string;
  readonly filename: string;
  readonly bytes: number;
}

/** A spool file and the moment its writer let go of it (only then can it be removed for good). */
interface SpoolEntry {
  readonly path: string;
  readonly closed: Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    spoolEntries?: SpoolEntry[];
    /** Set once the request's spool files were removed: a file spooled after that goes at once. */
    spoolReleased?: boolean;
  }
}

/** Multipart framing on top of the file itself; a body this much over the limit is refused unread. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
const SPOOL_PREFIX = 'voice-stack-uploads-';

export function isUploadedFile(value: unknown): value is UploadedFile {
  return typeof value === 'object' && value !== null && (value as UploadedFile).kind === 'upload';
}

export function requireUpload(value: unknown, field: string): UploadedFile {
  if (!isUploadedFile(value))
    throw invalidParameterError(field, 'must be an audio file sent as multipart/form-data');
  if (value.bytes === 0) throw invalidParameterError(field, 'is empty');
  return value;
}

/**
 * Multipart uploads as validated key-values: fields become body properties the
 * route schema checks, and each file streams to a temporary file whose path takes
 * its place. A file over MAX_UPLOAD_SIZE_MB fails as soon as the limit is passed.
 */
export async function registerUploads(
  app: ServiceApp,
  maxUploadMb: number,
  diskReserveMb: number,
): Promise<void> {
  const maxBytes = Math.floor(maxUploadMb * 1024 * 1024);
  await sweepStaleSpools(tmpdir(), SPOOL_PREFIX);
  const dir = join(tmpdir(), `${SPOOL_PREFIX}${process.pid}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await app.register(multipart, {
    attachFieldsToBody: 'keyValues',
    limits: { fileSize: maxBytes, files: 1, fields: 32, fieldSize: 64 * 1024 },
    throwFileSizeLimit: true,
    async onFile(this: FastifyRequest, part: MultipartFile) {
      // Unguessable, so no upload can name another client's spool file.
      const path = join(dir, randomBytes(16).toString('hex'));
      const output = createWriteStream(path, { mode: 0o600 });
      const closed = new Promise<void>((resolve) => output.once('close', () => resolve()));
      trackSpoolEntry(this, { path, closed });
      // Fail at the limit itself: otherwise the stream is only truncated and the
      // rest of the body would still be read to its end.
      part.file.once('limit', () => part.file.destroy(fileTooLargeError(maxUploadMb)));
      try {
        await pipeline(part.file, diskReserveCheck(dir, diskReserveMb), output);
      } catch (error) {
        throw isVoiceStackError(error)
          ? error
          : invalidParameterError(part.fieldname, 'the multipart upload is incomplete or malformed');
      }
      const upload: UploadedFile = {
        kind: 'upload',
        path,
        filename: part.filename,
        bytes: output.bytesWritten,
      };
      (part as unknown as { value: UploadedFile }).value = upload;
    },
  });
  // The response's 'close' comes on every path: sent, failed, or cut by the client at any
  // moment. onRequestAbort alone misses a client that leaves after its body was all sent
  // (queued or running), and onResponse never comes for a response that could not be sent.
  app.addHook('onRequest', async (request, reply) => {
    reply.raw.once('close', () => void removeUploads(request));
  });
  app.addHook('onResponse', async (request) => removeUploads(request));
  app.addHook('onClose', async () => rm(dir, { recursive: true, force: true }));
}

/** How often, in bytes written, the spool's free disk space is looked at. */
const DISK_CHECK_EVERY_BYTES = 32 * 1024 * 1024;
const DISK_RETRY_AFTER_SECONDS = 60;

/**
 * Passes the upload through, stopping it once the spool's filesystem would have less
 * than `reserveMb` free: MAX_UPLOAD_SIZE_MB bounds one upload, but every queued request
 * spools one, and a full disk takes more than this service down with it.
 */
function diskReserveCheck(dir: string, reserveMb: number): Transform {
  let sinceCheck = Number.POSITIVE_INFINITY;
  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      sinceCheck += chunk.length;
      if (sinceCheck < DISK_CHECK_EVERY_BYTES) return done(null, chunk);
      sinceCheck = 0;
      statfs(dir).then(
        (fs) => done(diskShortage(fs, reserveMb, chunk.length), chunk),
        () => done(null, chunk),
      );
    },
  });
}

function diskShortage(
  fs: { bsize: number; blocks: number; bavail: number },
  reserveMb: number,
  incoming: number,
) {
  const total = fs.blocks * fs.bsize;
  const free = fs.bavail * fs.bsize - incoming;
  const reserve = reserveMb * 1024 * 1024;
  if (free >= reserve || total <= 0) return null;
  const usedPercent = (100 * (total - free)) / total;
  const limitPercent = Math.round((100 * (total - reserve)) / total);
  return resourceThresholdError('disk', usedPercent, limitPercent, DISK_RETRY_AFTER_SECONDS);
}

/**
 * Busboy may still hold bytes from a client that has gone and spool one more file
 * after the removal ran; that file is removed as soon as it is known.
 */
function trackSpoolEntry(request: FastifyRequest, entry: SpoolEntry): void {
  request.spoolEntries = [...(request.spoolEntries ?? []), entry];
  if (request.spoolReleased) void removeUploads(request);
}

/**
 * Removes a request's spool files once their writers have closed: a file removed while
 * its stream was still opening would be created again behind the removal and stay.
 */
async function removeUploads(request: FastifyRequest): Promise<void> {
  const entries = request.spoolEntries ?? [];
  request.spoolEntries = [];
  request.spoolReleased = true;
  await Promise.all(
    entries.map(async ({ path, closed }) => {
      await closed;
      await rm(path, { force: true });
    }),
  );
}

/** Refuses, before reading a byte, a body whose declared length is already over the limit. */
export function assertDeclaredSizeWithinLimit(request: FastifyRequest, maxUploadMb: number): void {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxUploadMb * 1024 * 1024 + MULTIPART_OVERHEAD_BYTES) throw fileTooLargeError(maxUploadMb);
}
