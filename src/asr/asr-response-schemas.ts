/** What the ASR routes answer, for the serialiser and /openapi.json. */
import { Type } from 'typebox';
import { jsonOrText } from '../core/http/response-schemas.js';

/** `json` is `{text}`; `verbose_json` adds task, language, duration, segments and words. */
const OpenAiTranscript = Type.Object(
  {
    text: Type.String(),
    task: Type.Optional(Type.String()),
    language: Type.Optional(Type.String()),
    duration: Type.Optional(Type.Number()),
    segments: Type.Optional(Type.Array(Type.Object({}, { additionalProperties: true }))),
    words: Type.Optional(Type.Array(Type.Object({}, { additionalProperties: true }))),
  },
  { additionalProperties: true },
);

export const OpenAiTranscriptResponse = {
  200: jsonOrText('The transcript in the requested response_format', OpenAiTranscript, [
    'text/plain',
    'application/x-subrip',
    'text/vtt',
    'text/event-stream',
  ]),
};

/** Bazarr's `output=json` is whisper-asr-webservice's segment list (the server Bazarr's Whisper provider was written for); the others are text. */
export const BazarrTranscriptResponse = {
  200: jsonOrText(
    'The transcript in the requested output (txt, srt, vtt, tsv, json, jsonl)',
    Type.Object({ text: Type.String() }, { additionalProperties: true }),
    ['text/plain', 'application/x-ndjson'],
  ),
};

export const DetectedLanguageResponse = {
  200: Type.Object({
    detected_language: Type.String(),
    language_code: Type.String(),
    confidence: Type.Optional(Type.Number()),
  }),
};
