import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import multipart, { type MultipartFile } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { fileTooLargeError, invalidParameterError, isVoiceStackError } from '../core/errors.js';
import type { ServiceApp } from '../core/service-app.js';

/** An uploaded file, spooled to disk so that queued requests hold no audio in memory. */
export interface UploadedFile {
  readonly kind: 'upload';
  readonly path: string;
  readonly filename: string;
  readonly bytes: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    uploadPaths?: string[];
  }
}

/** Multipart framing on top of the file itself; a body this much over the limit is refused unread. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
let uploadCounter = 0;

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
export async function registerUploads(app: ServiceApp, maxUploadMb: number): Promise<void> {
  const maxBytes = Math.floor(maxUploadMb * 1024 * 1024);
  const dir = join(tmpdir(), `voice-stack-uploads-${process.pid}`);
  await mkdir(dir, { recursive: true });
  await app.register(multipart, {
    attachFieldsToBody: 'keyValues',
    limits: { fileSize: maxBytes, files: 1, fields: 32, fieldSize: 64 * 1024 },
    throwFileSizeLimit: true,
    async onFile(this: FastifyRequest, part: MultipartFile) {
      const path = join(dir, `${Date.now()}-${uploadCounter++}`);
      this.uploadPaths = [...(this.uploadPaths ?? []), path];
      const output = createWriteStream(path);
      // Fail at the limit itself: otherwise the stream is only truncated and the
      // rest of the body would still be read to its end.
      part.file.once('limit', () => part.file.destroy(fileTooLargeError(maxUploadMb)));
      try {
        await pipeline(part.file, output);
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
  app.addHook('onResponse', async (request) => removeUploads(request));
  app.addHook('onRequestAbort', async (request) => removeUploads(request));
  app.addHook('onClose', async () => rm(dir, { recursive: true, force: true }));
}

async function removeUploads(request: FastifyRequest): Promise<void> {
  const paths = request.uploadPaths ?? [];
  request.uploadPaths = [];
  await Promise.all(paths.map((path) => rm(path, { force: true })));
}

/** Refuses, before reading a byte, a body whose declared length is already over the limit. */
export function assertDeclaredSizeWithinLimit(request: FastifyRequest, maxUploadMb: number): void {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxUploadMb * 1024 * 1024 + MULTIPART_OVERHEAD_BYTES) throw fileTooLargeError(maxUploadMb);
}
