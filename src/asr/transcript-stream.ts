/**
 * `stream=true` on the transcription routes: OpenAI's transcription server-sent events.
 * Each segment becomes a `transcript.text.delta` as the engine decodes it, and the end a
 * `transcript.text.done` with the whole text and `usage` — the events the official SDKs'
 * `stream: true` yields. As for streamed speech, the status and headers wait for the first
 * event, so a failure before any text (queue full, bad audio, client gone) is an ordinary
 * JSON error; a failure after it is an SSE event carrying `error`, which the SDKs raise.
 */
import { PassThrough, type Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { VoiceStackError } from '../core/errors.js';
import type { Transcript, TranscriptSegment } from './engines/asr-engine.js';

/** OpenAI's `transcript.text.done` usage: tokens, the only kind that event carries. */
export interface TranscriptUsage {
  readonly type: 'tokens';
  readonly input_tokens: number;
  readonly input_token_details: { readonly audio_tokens: number; readonly text_tokens: number };
  readonly output_tokens: number;
  readonly total_tokens: number;
}

/** One input token per 20 ms of audio (the unit speech usage counts in too). */
const AUDIO_TOKENS_PER_SECOND = 50;

/**
 * Usage in the nearest honest units: whisper's own tokens out (the decoder's text tokens),
 * 20 ms frames of audio in. No OpenAI tokenizer runs here, so the prompt counts nothing.
 */
export function transcriptUsage(transcript: Transcript): TranscriptUsage {
  const audio = Math.ceil(transcript.duration * AUDIO_TOKENS_PER_SECOND);
  const output = transcript.segments.reduce((n, s) => n + s.tokens.length, 0);
  return {
    type: 'tokens',
    input_tokens: audio,
    input_token_details: { audio_tokens: audio, text_tokens: 0 },
    output_tokens: output,
    total_tokens: audio + output,
  };
}

function sse(event: object): string {
  return `data: ${JSON.stringify(event)}\n\n`;
}

export interface StreamedTranscript {
  /** The event stream; the caller sends the headers, then this body. */
  readonly body: Readable;
}

/**
 * Starts `run` (which transcribes, calling `onSegment` as segments are decoded) and
 * resolves once the first event exists, or rejects with the failure before it.
 * `toError` maps a failure after the start to the error the event carries.
 */
export async function streamTranscript(
  run: (onSegment: (segment: TranscriptSegment) => void) => Promise<Transcript>,
  toError: (error: unknown) => VoiceStackError,
  log: Pick<Logger, 'debug' | 'warn'>,
): Promise<StreamedTranscript> {
  const body = new PassThrough();
  let streaming = false;
  let onStart: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    onStart = resolve;
  });
  const write = (event: object) => {
    if (body.destroyed || body.writableEnded) return;
    body.write(sse(event));
    if (!streaming) {
      streaming = true;
      onStart();
    }
  };
  const work = run((segment) => {
    if (segment.text !== '') write({ type: 'transcript.text.delta', delta: segment.text });
  });
  body.on('error', (error) => log.debug({ err: error }, 'transcript stream cut'));
  work.then(
    (transcript) => {
      write({ type: 'transcript.text.done', text: transcript.text, usage: transcriptUsage(transcript) });
      body.end();
    },
    (error: unknown) => {
      if (!streaming) return body.end();
      const mapped = toError(error);
      log.warn({ code: mapped.code, reason: mapped.reason }, `transcript stream failed: ${mapped.message}`);
      body.end(
        sse({ type: 'error', error: { message: mapped.message, type: mapped.type, code: mapped.code } }),
      );
    },
  );
  // Whichever comes first: the first event (send headers, then stream) or a failure before it.
  await Promise.race([started, work]);
  return { body };
}
