import { clientClosedError, invalidParameterError, protocolError } from '../core/errors.js';
import type { ServiceRuntime } from '../core/runtime/service-runtime.js';
import type { TtsSettings } from '../core/settings.js';
import type { TtsEngine } from '../tts/engines/tts-engine.js';
import { DEFAULT_VOICE_NAME, engineVoiceFor, isOpenAiVoice } from '../tts/openai-voices.js';
import { PCM_RATE, type SpeechJob, streamSpeech } from '../tts/speech-stream.js';
import { chunkText, splitSentences } from '../tts/text-chunker.js';
import { metered, meteredRefusal } from './metered.js';
import {
  type EventData,
  objectField,
  stringField,
  type WyomingEvent,
  wyomingEvent,
} from './wyoming-event.js';
import type { WyomingConnection, WyomingSession } from './wyoming-server.js';

type TtsRuntime = ServiceRuntime<TtsEngine>;

/** Route labels in /metrics: a whole synthesize, and each sentence of a stream. */
const ROUTE = 'wyoming/synthesize';
const STREAM_ROUTE = 'wyoming/synthesize-stream';

/** The audio sent: what `streamSpeech` makes for `pcm`, 24 kHz s16le mono. */
const FORMAT = { rate: PCM_RATE, width: 2, channels: 1 } as const;
/** 2048 samples (85 ms) per `audio-chunk`: small enough that a player starts at once. */
const CHUNK_BYTES = 2048 * FORMAT.width;

interface TextStream {
  readonly voice: string;
  /** Text received but not spoken yet: an unfinished sentence. */
  pending: string;
  /** Audio already sent in this stream, against MAX_SPEECH_SECONDS. */
  secondsSent: number;
}

/**
 * One connection to the TTS listener: `describe` → `info`; `synthesize` → `audio-start`,
 * `audio-chunk`s, `audio-stop`; and the streamed form, `synthesize-start`, `-chunk`s,
 * `-stop` → `audio-start` … `audio-stop` for each sentence as soon as it is complete,
 * then `synthesize-stopped`. Each answer goes through the service's inference gate, one
 * slot per sentence in a stream (the text arrives at a language model's pace; holding
 * a slot while waiting for it would starve every other client).
 */
export class TtsSession implements WyomingSession {
  #stream: TextStream | undefined;
  #speaking = false;

  constructor(
    private readonly runtime: TtsRuntime,
    private readonly settings: TtsSettings,
    private readonly connection: WyomingConnection,
    private readonly info: () => Promise<WyomingEvent>,
  ) {}

  get inRequest(): boolean {
    return this.#stream !== undefined || this.#speaking;
  }

  async handle(event: WyomingEvent): Promise<void> {
    const { data } = event;
    switch (event.type) {
      case 'describe':
        return this.connection.send(await this.info());
      case 'ping':
        return this.connection.send(wyomingEvent('pong'));
      case 'synthesize':
        // Inside a stream it is the compatibility copy of the whole text: already spoken.
        if (this.#stream !== undefined) return;
        return this.#synthesize(data);
      case 'synthesize-start':
        return this.#startStream(data);
      case 'synthesize-chunk':
        return this.#streamChunk(data);
      case 'synthesize-stop':
        return this.#stopStream();
      default:
        return;
    }
  }

  async #synthesize(data: EventData): Promise<void> {
    const { text, voice } = await meteredRefusal(this.runtime.metrics, ROUTE, async () => {
      const text = textOf(data, this.settings.maxTextChars);
      if (text.trim() === '') throw invalidParameterError('text', 'must not be empty');
      this.runtime.gate.admit();
      return { text, voice: await this.#voice(objectField(data, 'voice')) };
    });
    await this.#speak(text, voice, this.settings.maxSpeechSeconds, ROUTE);
  }

  async #startStream(data: EventData): Promise<void> {
    if (this.#stream !== undefined) throw protocolError("'synthesize-start' inside a stream");
    const voice = await meteredRefusal(this.runtime.metrics, STREAM_ROUTE, async () => {
      this.runtime.gate.admit();
      return this.#voice(objectField(data, 'voice'));
    });
    this.#stream = { voice, pending: '', secondsSent: 0 };
  }

  async #streamChunk(data: EventData): Promise<void> {
    const stream = this.#stream;
    if (stream === undefined) throw protocolError("'synthesize-chunk' outside a stream");
    stream.pending += textOf(data, this.settings.maxTextChars);
    if (stream.pending.length > this.settings.maxTextChars) {
      throw invalidParameterError(
        'text',
        `a stream's unfinished sentence is longer than MAX_TEXT_CHARS (${this.settings.maxTextChars} characters)`,
      );
    }
    const sentences = splitSentences(stream.pending);
    const last = sentences.at(-1);
    if (sentences.length < 2 || last === undefined) return;
    // The last piece may still be growing; what comes before it is finished.
    stream.pending = stream.pending.slice(stream.pending.lastIndexOf(last));
    for (const sentence of sentences.slice(0, -1)) await this.#speakInStream(stream, sentence);
  }

  async #stopStream(): Promise<void> {
    const stream = this.#stream;
    if (stream === undefined) throw protocolError("'synthesize-stop' outside a stream");
    if (stream.pending.trim() !== '') await this.#speakInStream(stream, stream.pending);
    this.#stream = undefined;
    await this.connection.send(wyomingEvent('synthesize-stopped'));
  }

  async #speakInStream(stream: TextStream, text: string): Promise<void> {
    const left = this.settings.maxSpeechSeconds - stream.secondsSent;
    if (left <= 0) {
      throw invalidParameterError(
        'text',
        `the stream would produce more than MAX_SPEECH_SECONDS (${this.settings.maxSpeechSeconds} s) of audio`,
      );
    }
    stream.secondsSent += await this.#speak(text, stream.voice, left, STREAM_ROUTE);
  }

  /** One answer: `audio-start`, the audio as it is made, `audio-stop`. Resolves with the seconds sent. */
  async #speak(text: string, voice: string, maxSeconds: number, route: string): Promise<number> {
    const { runtime, connection } = this;
    this.#speaking = true;
    try {
      return await metered(runtime.metrics, route, async () => {
        // A voice whose files still have to be pulled is refused before it takes a slot.
        await runtime.slot.engine.voices.assertReady(voice);
        const job: SpeechJob = { chunks: chunkText(text), voice, speed: 1, format: 'pcm', maxSeconds };
        const speech = await streamSpeech(runtime, connection.signal, job, 'audio', runtime.logger);
        await connection.send(wyomingEvent('audio-start', { ...FORMAT }));
        let bytes = 0;
        let carry: Buffer = Buffer.alloc(0);
        for await (const piece of speech.body as AsyncIterable<Buffer>) {
          if (connection.signal.aborted) throw clientClosedError();
          carry = carry.length > 0 ? Buffer.concat([carry, piece]) : piece;
          while (carry.length >= CHUNK_BYTES) {
            await connection.send(wyomingEvent('audio-chunk', { ...FORMAT }, carry.subarray(0, CHUNK_BYTES)));
            carry = carry.subarray(CHUNK_BYTES);
            bytes += CHUNK_BYTES;
          }
        }
        // Whole samples only: a stray odd byte would shift every sample after it.
        const tail = carry.subarray(0, carry.length - (carry.length % FORMAT.width));
        if (tail.length > 0) await connection.send(wyomingEvent('audio-chunk', { ...FORMAT }, tail));
        bytes += tail.length;
        await connection.send(wyomingEvent('audio-stop'));
        return bytes / FORMAT.width / FORMAT.rate;
      });
    } finally {
      this.#speaking = false;
    }
  }

  /**
   * The engine voice a Wyoming `voice {name, language, speaker}` names: `name` is a
   * voice id from `info` (or `default`, or an OpenAI name), `language` alone picks a
   * voice of that language, `speaker` a variant of the voice (espeak-ng: `f3`).
   */
  async #voice(requested: EventData): Promise<string> {
    const engine = this.runtime.slot.engine;
    const name = stringField(requested, 'name');
    const language = stringField(requested, 'language');
    const speaker = stringField(requested, 'speaker');
    let voice: string;
    if (name !== undefined && name !== '') voice = await namedVoice(engine, name);
    else if (language !== undefined && language !== '') voice = await voiceForLanguage(engine, language);
    else voice = engine.voices.defaultVoice();
    if (speaker === undefined || speaker === '') return voice;
    const variant = `${voice}+${speaker}`;
    if (await engine.voices.has(variant)) return variant;
    throw invalidParameterError('voice', `voice '${voice}' has no speaker '${speaker}'`);
  }
}

function textOf(data: EventData, maxChars: number): string {
  const text = data.text;
  if (typeof text !== 'string') throw invalidParameterError('text', 'must be a string');
  if (text.length > maxChars) {
    throw invalidParameterError('text', `is longer than MAX_TEXT_CHARS (${maxChars} characters)`);
  }
  return text;
}

async function namedVoice(engine: TtsEngine, name: string): Promise<string> {
  const lower = name.toLowerCase();
  if (lower === DEFAULT_VOICE_NAME) return engine.voices.defaultVoice();
  if (await engine.voices.has(name)) return name;
  if (isOpenAiVoice(lower))
    return engineVoiceFor(engine.describe().engine, lower, engine.voices.defaultVoice());
  throw invalidParameterError('voice', `unknown voice '${name}'; the info event lists them`);
}

const languageKey = (tag: string) => tag.toLowerCase().replaceAll('_', '-');

/** The configured voice when it speaks `language`, else the first installed voice that does. */
async function voiceForLanguage(engine: TtsEngine, language: string): Promise<string> {
  const want = languageKey(language);
  const speaks = (tag: string) => {
    const have = languageKey(tag);
    return have === want || have.startsWith(`${want}-`) || want.startsWith(`${have}-`);
  };
  const voices = await engine.voices.list();
  const fallback = engine.voices.defaultVoice();
  const candidates = voices.filter((v) => v.cached && speaks(v.language));
  const chosen = candidates.find((v) => v.id === fallback) ?? candidates[0];
  if (chosen === undefined) throw invalidParameterError('voice', `no installed voice speaks '${language}'`);
  return chosen.id;
}
