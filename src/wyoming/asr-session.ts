import type { AsrEngine, TranscriptSegment } from '../asr/engines/asr-engine.js';
import { SAMPLE_RATE } from '../asr/engines/audio-windows.js';
import { normaliseLanguage } from '../asr/languages.js';
import { transcribeInPieces } from '../asr/transcribe-in-pieces.js';
import { invalidParameterError, protocolError } from '../core/errors.js';
import type { ServiceRuntime } from '../core/runtime/service-runtime.js';
import { pcmFormatOf, UtteranceAudio } from './audio-input.js';
import { metered, meteredRefusal } from './metered.js';
import {
  type EventData,
  type PcmFormat,
  stringField,
  type WyomingEvent,
  wyomingEvent,
} from './wyoming-event.js';
import type { WyomingConnection, WyomingSession } from './wyoming-server.js';

/**
 * The longest utterance one `transcribe` takes. A voice command lasts seconds and Home
 * Assistant stops the stream at the end of speech; five minutes of 16 kHz samples are
 * 19 MB held per connection, so the bound keeps a connection's memory small.
 */
export const MAX_UTTERANCE_SECONDS = 300;

type AsrRuntime = ServiceRuntime<AsrEngine>;

/** The route label of Wyoming transcriptions in /metrics. */
const ROUTE = 'wyoming/transcribe';

interface Utterance {
  readonly language: string | undefined;
  readonly audio: UtteranceAudio;
  format: PcmFormat | undefined;
}

/**
 * One connection to the ASR listener: `describe` → `info`; `transcribe` (optional),
 * `audio-start`, `audio-chunk`s, `audio-stop` → `transcript-start`, one
 * `transcript-chunk` per segment, `transcript`, `transcript-stop`. Audio is only
 * buffered while it arrives; the inference slot is taken at `audio-stop`, and
 * admission is checked at the start, so a refused request is refused before its audio.
 */
export class AsrSession implements WyomingSession {
  #utterance: Utterance | undefined;
  #language: string | undefined;
  #transcribeSeen = false;
  #inference = false;

  constructor(
    private readonly runtime: AsrRuntime,
    private readonly connection: WyomingConnection,
    private readonly info: () => WyomingEvent,
  ) {}

  get inRequest(): boolean {
    return this.#utterance !== undefined || this.#transcribeSeen || this.#inference;
  }

  async handle(event: WyomingEvent): Promise<void> {
    switch (event.type) {
      case 'describe':
        return this.connection.send(this.info());
      case 'ping':
        return this.connection.send(wyomingEvent('pong', pongData(event.data)));
      case 'transcribe':
        return meteredRefusal(this.runtime.metrics, ROUTE, () => {
          this.#language = languageOf(event.data);
          this.#transcribeSeen = true;
          // Refused now (over capacity, memory, draining) rather than after the audio.
          this.runtime.gate.admit();
        });
      case 'audio-start':
        return meteredRefusal(this.runtime.metrics, ROUTE, () => this.#start(event.data));
      case 'audio-chunk':
        return meteredRefusal(this.runtime.metrics, ROUTE, () => this.#chunk(event));
      case 'audio-stop':
        return this.#stop();
      default:
        // Events of other domains (wake, tts, …) are not for this service; the protocol ignores them.
        return;
    }
  }

  #start(data: EventData): void {
    this.runtime.gate.admit();
    this.#utterance = {
      language: this.#language,
      audio: new UtteranceAudio(SAMPLE_RATE, MAX_UTTERANCE_SECONDS),
      format: pcmFormatOf(data),
    };
  }

  #chunk(event: WyomingEvent): void {
    // A chunk without audio-start starts the utterance, as the reference servers allow.
    if (this.#utterance === undefined) this.#start(event.data);
    const utterance = this.#utterance as Utterance;
    const format = pcmFormatOf({ ...utterance.format, ...event.data });
    utterance.format = format;
    if (event.payload !== undefined) utterance.audio.append(event.payload, format);
  }

  async #stop(): Promise<void> {
    const utterance = this.#utterance;
    if (utterance === undefined) {
      // `transcribe` then no audio at all: nothing was said (as the reference servers answer).
      if (!this.#transcribeSeen) throw protocolError("'audio-stop' without 'audio-start'");
      const language = this.#language ?? 'en';
      this.#transcribeSeen = false;
      this.#language = undefined;
      return this.#answer('', language, []);
    }
    this.#transcribeSeen = false;
    this.#utterance = undefined;
    this.#language = undefined;
    this.#inference = true;
    try {
      const samples = utterance.audio.samples();
      const transcript = await metered(this.runtime.metrics, ROUTE, () =>
        this.#transcribe(samples, utterance.language),
      );
      await this.#answer(transcript.text, transcript.language, transcript.segments);
    } finally {
      this.#inference = false;
    }
  }

  #transcribe(samples: Float32Array, language: string | undefined) {
    const { runtime } = this;
    return runtime.gate.run(this.connection.signal, async (engine, signal) => {
      const transcript = await transcribeInPieces(
        engine,
        once(samples),
        { task: 'transcribe', language, wordTimestamps: false, vad: false },
        signal,
        {
          onEngineCall: () => runtime.metrics.speechGate.inc({ decision: 'speech' }),
          onSilentBlock: () => runtime.metrics.speechGate.inc({ decision: 'no_speech' }),
        },
      );
      runtime.metrics.audioSeconds.inc(transcript.duration);
      return transcript;
    });
  }

  /** The streamed form, then `transcript` inside it for clients that only read that (the protocol's rule). */
  async #answer(text: string, language: string, segments: readonly TranscriptSegment[]): Promise<void> {
    const { connection } = this;
    const spoken = text.trim();
    await connection.send(wyomingEvent('transcript-start', { language }));
    for (const segment of segments) {
      if (segment.text !== '')
        await connection.send(wyomingEvent('transcript-chunk', { text: segment.text }));
    }
    await connection.send(wyomingEvent('transcript', { text: spoken, language }));
    await connection.send(wyomingEvent('transcript-stop'));
  }
}

async function* once(samples: Float32Array): AsyncGenerator<Float32Array> {
  yield samples;
}

/** `language` of `transcribe`: a Whisper code or a BCP-47 tag (`en`, `en-US`, `en_US`); unset or `auto` detects. */
function languageOf(data: EventData): string | undefined {
  const value = stringField(data, 'language');
  if (value === undefined || value === '' || value.toLowerCase() === 'auto') return undefined;
  const code = normaliseLanguage(value);
  if (code === undefined) throw invalidParameterError('language', `unknown language '${value}'`);
  return code;
}

function pongData(data: EventData): EventData {
  const text = stringField(data, 'text');
  return text === undefined ? {} : { text };
}
