import { Buffer } from 'node:buffer';
import { Rng } from './fuzz-cases.js';

export const ABORT_CLASSES = [
  'asr-mid-body',
  'asr-after-body',
  'bazarr-asr',
  'tts-before-response',
  'tts-first-bytes',
  'tts-sse-first-bytes',
  'tts-queued',
] as const;
export type AbortClass = (typeof ABORT_CLASSES)[number];

/**
 * When the client goes away. `body-bytes`: after sending the head and that many body
 * bytes, then `thenMs`; `delay`: `ms` after the whole request was written; `first-body-bytes`:
 * as soon as any byte past the response head arrives. `reset` sends RST instead of FIN.
 */
export type Cut =
  | { readonly at: 'body-bytes'; readonly bytes: number; readonly thenMs: number }
  | { readonly at: 'delay'; readonly ms: number }
  | { readonly at: 'first-body-bytes' };

/** One request written by hand over a socket, and the moment the client cuts it. */
export interface AbortPlan {
  readonly index: number;
  readonly cls: AbortClass;
  readonly service: 'asr' | 'tts';
  readonly head: Buffer;
  readonly body: Buffer;
  readonly cut: Cut;
  readonly reset: boolean;
  readonly label: string;
}

export interface AbortContext {
  /** 16 kHz mono WAVs of a few seconds each, so inference lasts long enough to be cut. */
  readonly wavs: readonly Buffer[];
}

/** Sentences enough that whole-file synthesis takes a while and a stream sends several chunks. */
const LONG_TEXT = [
  'The quick brown fox jumps over the lazy dog.',
  'Speech services must let go of every slot when a client hangs up.',
  'Nothing may stay behind in the spool once the request is gone.',
  'This sentence is here so that the stream has more than one chunk to send.',
];

function httpHead(path: string, contentType: string, length: number): Buffer {
  const lines = [
    `POST ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    `Content-Type: ${contentType}`,
    `Content-Length: ${length}`,
    'Connection: close',
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

function multipartUpload(field: string, wav: Buffer, boundary: string): Buffer {
  const part = [
    `--${boundary}`,
    `Content-Disposition: form-data; name="${field}"; filename="clip.wav"`,
    'Content-Type: audio/wav',
    '',
    '',
  ].join('\r\n');
  return Buffer.concat([Buffer.from(part), wav, Buffer.from(`\r\n--${boundary}--\r\n`)]);
}

/** An upload to an ASR route, cut mid-body or some time after the body was all sent. */
function asrPlan(rng: Rng, ctx: AbortContext, cls: AbortClass, path: string, field: string) {
  const boundary = `abort${rng.int(1e9)}`;
  const body = multipartUpload(field, rng.pick(ctx.wavs), boundary);
  const midBody = cls === 'asr-mid-body' || (cls === 'bazarr-asr' && rng.float() < 0.5);
  // Up to 3 s after the body: some are cut queued, some running, some already answered.
  const cut: Cut = midBody
    ? { at: 'body-bytes', bytes: rng.int(body.length), thenMs: rng.int(50) }
    : { at: 'delay', ms: rng.int(3000) };
  const head = httpHead(path, `multipart/form-data; boundary=${boundary}`, body.length);
  return { service: 'asr' as const, head, body, cut, label: `${path} ${describeCut(cut)}` };
}

function speechPlan(rng: Rng, cls: AbortClass) {
  const sentences = LONG_TEXT.slice(0, 2 + rng.int(LONG_TEXT.length - 1));
  const request: Record<string, unknown> = { model: 'tts-1', input: sentences.join(' '), voice: 'alloy' };
  let cut: Cut = { at: 'first-body-bytes' };
  if (cls === 'tts-before-response') {
    // Whole-file formats answer only when synthesis is done, so an early cut precedes the head.
    request.response_format = rng.pick(['wav', 'flac', 'aac']);
    cut = { at: 'delay', ms: rng.int(150) };
  } else if (cls === 'tts-first-bytes') {
    request.response_format = rng.pick(['mp3', 'opus', 'pcm']);
  } else if (cls === 'tts-sse-first-bytes') {
    request.response_format = rng.pick(['mp3', 'opus', 'pcm', 'wav']);
    request.stream_format = 'sse';
  } else {
    // tts-queued: with two slots and many requests in flight, a cut this early finds most queued.
    request.response_format = rng.pick(['mp3', 'wav', 'pcm']);
    cut = { at: 'delay', ms: rng.int(40) };
  }
  const body = Buffer.from(JSON.stringify(request));
  const head = httpHead('/v1/audio/speech', 'application/json', body.length);
  const label = `${String(request.response_format)}${request.stream_format ? '/sse' : ''} ${describeCut(cut)}`;
  return { service: 'tts' as const, head, body, cut, label };
}

function describeCut(cut: Cut): string {
  if (cut.at === 'body-bytes') return `cut after ${cut.bytes} body bytes +${cut.thenMs} ms`;
  if (cut.at === 'delay') return `cut ${cut.ms} ms after the body`;
  return 'cut at the first response bytes';
}

/** The request for one index: it depends only on the seed and the index, so a run replays. */
export function generateAbort(seed: number, index: number, ctx: AbortContext): AbortPlan {
  const rng = new Rng((seed * 1_000_003 + index) >>> 0);
  const cls = ABORT_CLASSES[index % ABORT_CLASSES.length] as AbortClass;
  const reset = rng.float() < 0.3;
  let plan: Omit<AbortPlan, 'index' | 'cls' | 'reset'>;
  if (cls === 'asr-mid-body' || cls === 'asr-after-body') {
    plan = asrPlan(rng, ctx, cls, rng.pick(['/v1/audio/transcriptions', '/v1/audio/translations']), 'file');
  } else if (cls === 'bazarr-asr') {
    plan = asrPlan(rng, ctx, cls, rng.pick(['/asr?output=json', '/bazarr/asr?output=txt']), 'audio_file');
  } else {
    plan = speechPlan(rng, cls);
  }
  return { index, cls, reset, ...plan, label: `${plan.label}${reset ? ' (RST)' : ''}` };
}
