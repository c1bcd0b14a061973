import type { AsrTask, Transcript, TranscriptSegment } from './engines/asr-engine.js';
import { languageName } from './languages.js';

export const OPENAI_RESPONSE_FORMATS = ['json', 'text', 'srt', 'vtt', 'verbose_json'] as const;
export type OpenAiResponseFormat = (typeof OPENAI_RESPONSE_FORMATS)[number];
export const BAZARR_OUTPUTS = ['txt', 'vtt', 'srt', 'tsv', 'json', 'jsonl'] as const;
export type BazarrOutput = (typeof BAZARR_OUTPUTS)[number];

export interface FormattedTranscript {
  readonly contentType: string;
  readonly body: string | Record<string, unknown>;
}

/** `HH:MM:SS,mmm` (SRT) or `HH:MM:SS.mmm` (VTT), from seconds. */
export function timestamp(seconds: number, separator: ',' | '.'): string {
  const totalMs = Math.max(0, Math.round(seconds * 1000));
  const ms = totalMs % 1000;
  const totalSeconds = Math.floor(totalMs / 1000);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  return `${pad(hours)}:${pad(minutes)}:${pad(totalSeconds % 60)}${separator}${pad(ms, 3)}`;
}

/**
 * Subtitle cues with monotonic, non-overlapping times: players reject cues that
 * go backwards, and an engine's segment ends can overlap the next start.
 */
export function subtitleCues(
  segments: readonly TranscriptSegment[],
): { start: number; end: number; text: string }[] {
  const cues: { start: number; end: number; text: string }[] = [];
  let previousEnd = 0;
  for (const segment of segments) {
    const text = segment.text.trim();
    if (text.length === 0) continue;
    const start = Math.max(segment.start, previousEnd);
    const end = Math.max(segment.end, start + 0.001);
    cues.push({ start, end, text });
    previousEnd = end;
  }
  return cues;
}

export function toSrt(transcript: Transcript): string {
  return subtitleCues(transcript.segments)
    .map((cue, i) => `${i + 1}\n${timestamp(cue.start, ',')} --> ${timestamp(cue.end, ',')}\n${cue.text}\n`)
    .join('\n');
}

export function toVtt(transcript: Transcript): string {
  const cues = subtitleCues(transcript.segments).map(
    (cue) => `${timestamp(cue.start, '.')} --> ${timestamp(cue.end, '.')}\n${cue.text}\n`,
  );
  return `WEBVTT\n\n${cues.join('\n')}`;
}

/** whisper's TSV: integer milliseconds, a header row. */
export function toTsv(transcript: Transcript): string {
  const rows = subtitleCues(transcript.segments).map(
    (cue) =>
      `${Math.round(cue.start * 1000)}\t${Math.round(cue.end * 1000)}\t${cue.text.replaceAll('\t', ' ')}`,
  );
  return `start\tend\ttext\n${rows.join('\n')}${rows.length > 0 ? '\n' : ''}`;
}

function verboseSegment(segment: TranscriptSegment, temperature: number) {
  return {
    id: segment.id,
    seek: 0,
    start: segment.start,
    end: segment.end,
    text: segment.text,
    tokens: segment.tokens,
    temperature,
    avg_logprob: segment.avgLogprob,
    compression_ratio: 0,
    no_speech_prob: segment.noSpeechProb,
    ...(segment.words ? { words: segment.words } : {}),
  };
}

/** OpenAI's `verbose_json`, with `words` only when word timestamps were asked for. */
export function toVerboseJson(
  transcript: Transcript,
  task: AsrTask,
  options: { words: boolean; temperature: number },
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    task,
    language: languageName(transcript.language),
    duration: transcript.duration,
    text: transcript.text,
    segments: transcript.segments.map((s) => verboseSegment(s, options.temperature)),
  };
  if (options.words) {
    body.words = transcript.segments
      .flatMap((s) => s.words ?? [])
      .map(({ word, start, end }) => ({ word, start, end }));
  }
  return body;
}

export function formatOpenAi(
  transcript: Transcript,
  format: OpenAiResponseFormat,
  options: { task: AsrTask; words: boolean; temperature: number },
): FormattedTranscript {
  switch (format) {
    case 'json':
      return { contentType: 'application/json', body: { text: transcript.text } };
    case 'text':
      return { contentType: 'text/plain; charset=utf-8', body: `${transcript.text}\n` };
    case 'srt':
      return { contentType: 'application/x-subrip; charset=utf-8', body: toSrt(transcript) };
    case 'vtt':
      return { contentType: 'text/vtt; charset=utf-8', body: toVtt(transcript) };
    case 'verbose_json':
      return { contentType: 'application/json', body: toVerboseJson(transcript, options.task, options) };
  }
}

/** The outputs of the Bazarr-facing `/asr` API (whisper-asr-webservice's shapes). */
export function formatBazarr(
  transcript: Transcript,
  output: BazarrOutput,
  task: AsrTask,
): FormattedTranscript {
  switch (output) {
    case 'txt':
      return { contentType: 'text/plain; charset=utf-8', body: `${transcript.text}\n` };
    case 'srt':
      return { contentType: 'text/plain; charset=utf-8', body: toSrt(transcript) };
    case 'vtt':
      return { contentType: 'text/plain; charset=utf-8', body: toVtt(transcript) };
    case 'tsv':
      return { contentType: 'text/plain; charset=utf-8', body: toTsv(transcript) };
    case 'json':
      return {
        contentType: 'application/json',
        body: {
          text: transcript.text,
          language: transcript.language,
          segments: transcript.segments.map((s) => verboseSegment(s, 0)),
          task,
        },
      };
    case 'jsonl':
      return {
        contentType: 'application/x-ndjson; charset=utf-8',
        body: transcript.segments.map((s) => `${JSON.stringify(verboseSegment(s, 0))}\n`).join(''),
      };
  }
}
