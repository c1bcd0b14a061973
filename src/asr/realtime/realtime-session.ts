/**
 * One Realtime transcription session: the state machine behind `GET /v1/realtime?intent=
 * transcription`, free of any HTTP or WebSocket library. It reads client events as text,
 * writes server events through a socket-like interface, keeps the input audio buffer and
 * the server VAD, and hands each committed utterance to a transcriber (the service's
 * admission queue and model slot) one at a time, so `completed` events come in commit order.
 *
 * Every refused client event is answered with an `error` event and the session goes on.
 * `end()` (the socket closed, whoever closed it) stops everything: the running
 * transcription is aborted, queued ones never start, timers are cancelled.
 */
import type { Logger } from 'pino';
import type { PcmAudio } from '../../audio/pcm-audio.js';
import { resample } from '../../audio/resample.js';
import { errorMessage, isVoiceStackError } from '../../core/errors.js';
import type { Clock, TimerHandle } from '../../core/runtime/clock.js';
import type { Transcript } from '../engines/asr-engine.js';
import { SAMPLE_RATE } from '../engines/audio-windows.js';
import { transcriptUsage } from '../transcript-stream.js';
import { AudioBuffer } from './audio-buffer.js';
import { decodeAlaw, decodeUlaw } from './g711.js';
import {
  applyUpdate,
  type ClientEvent,
  clientEventId,
  decodeBase64Audio,
  defaultSession,
  FORMAT_SAMPLE_RATE,
  newId,
  parseClientEvent,
  type RealtimeErrorCode,
  RealtimeEventError,
  type TranscriptionSession,
} from './protocol.js';
import { SileroTurnDetector, type SpeechRegionFinder } from './silero-turn-detector.js';
import { EnergyTurnDetector, type TurnDetector, type TurnEvent } from './turn-detector.js';

/** What a session needs of a WebSocket. */
export interface RealtimeSocket {
  send(text: string): void;
  close(code: number, reason: string): void;
}

/** Transcribes one utterance (16 kHz mono) through the service's guard rails. */
export type UtteranceTranscriber = (
  audio: PcmAudio,
  options: { readonly language: string | undefined; readonly prompt: string | undefined },
  signal: AbortSignal,
  onText: (delta: string) => void,
) => Promise<Transcript>;

export type UtteranceResult = 'completed' | 'failed' | 'abandoned';

export interface RealtimeSessionOptions {
  readonly transcribe: UtteranceTranscriber;
  /** The model name the session object shows (the loaded model answers, whatever is asked). */
  readonly modelName: string;
  readonly idleTimeoutMs: number;
  /** Audio the input buffer holds (as much again may wait for transcription). */
  readonly maxBufferSeconds: number;
  readonly clock: Clock;
  readonly log: Pick<Logger, 'debug' | 'info' | 'warn'>;
  /** Called once, when the session has ended (to give back its place). */
  readonly onEnd: () => void;
  readonly onUtterance?: (result: UtteranceResult) => void;
  /** The Silero VAD (ASR_VAD_MODEL) for server VAD; without it turns are found by level. */
  readonly findSpeech?: SpeechRegionFinder | undefined;
}

/** The least audio a manual commit takes, as OpenAI's API requires. */
const MIN_COMMIT_MS = 100;
/** Audio kept before speech when nobody speaks: the prefix padding and the detector's start run. */
const START_WINDOW_MS = 100;

/** WebSocket close codes (RFC 6455 §7.4.1). */
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_TRY_AGAIN_LATER = 1013;

export class RealtimeSession {
  #session: TranscriptionSession;
  #buffer = new AudioBuffer();
  #detector: TurnDetector | undefined;
  /** The utterance being spoken (server VAD): its item and where it starts. */
  #speech: { itemId: string; start: number } | undefined;
  /** Milliseconds of the session before the current input format was set. */
  #msBase = 0;
  #lastItemId: string | null = null;
  #queue: Promise<void> = Promise.resolve();
  #pending = 0;
  #pendingSeconds = 0;
  #idle: TimerHandle | undefined;
  #ended = false;
  #vadFallbackLogged = false;
  readonly #abort = new AbortController();

  constructor(
    private readonly socket: RealtimeSocket,
    private readonly options: RealtimeSessionOptions,
  ) {
    this.#session = defaultSession(options.modelName);
    this.#detector = this.#newDetector();
  }

  get id(): string {
    return this.#session.id;
  }

  /** Sends `transcription_session.created` and starts the idle timer. */
  start(): void {
    this.#send({ type: 'transcription_session.created', session: this.#session });
    this.#armIdle();
  }

  /** One WebSocket message from the client. */
  receive(data: string | Buffer, isBinary: boolean): void {
    if (this.#ended) return;
    this.#armIdle();
    if (isBinary) {
      this.#error(
        new RealtimeEventError('binary_not_supported', 'Send client events as JSON text messages.'),
        undefined,
      );
      return;
    }
    const text = typeof data === 'string' ? data : data.toString('utf8');
    let event: ClientEvent;
    try {
      event = parseClientEvent(text);
    } catch (error) {
      this.#error(error, safeEventId(text));
      return;
    }
    try {
      this.#handle(event);
    } catch (error) {
      this.#error(error, event.event_id);
    }
  }

  /** The socket closed (either side): release everything. Safe to call twice. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#idle?.cancel();
    this.#abort.abort();
    this.#detector?.close();
    this.#buffer.clear();
    this.options.onEnd();
  }

  /** Sends an `error` event with `code` and closes the socket (capacity, idle, shutdown). */
  refuse(code: RealtimeErrorCode, message: string, closeCode: number): void {
    this.#error(new RealtimeEventError(code, message), undefined);
    this.socket.close(closeCode, message.slice(0, 120));
    this.end();
  }

  #handle(event: ClientEvent): void {
    switch (event.type) {
      case 'transcription_session.update':
        this.#update(applyUpdate(this.#session, event.session));
        break;
      case 'input_audio_buffer.append':
        this.#append(event.audio);
        break;
      case 'input_audio_buffer.commit':
        this.#commitNow();
        break;
      case 'input_audio_buffer.clear':
        this.#buffer.clear();
        this.#speech = undefined;
        this.#detector?.reset(this.#buffer.end);
        this.#send({ type: 'input_audio_buffer.cleared' });
        break;
    }
  }

  #update(next: TranscriptionSession): void {
    const formatChanged = next.input_audio_format !== this.#session.input_audio_format;
    const vadChanged = JSON.stringify(next.turn_detection) !== JSON.stringify(this.#session.turn_detection);
    if (formatChanged) {
      // Audio of the old format cannot be mixed with the new: the buffer starts over.
      this.#msBase = this.#ms(this.#buffer.end);
      this.#buffer.clear(true);
    }
    this.#session = next;
    if (formatChanged || vadChanged) {
      this.#speech = undefined;
      this.#detector?.close();
      this.#detector = this.#newDetector();
    }
    this.#send({ type: 'transcription_session.updated', session: this.#session });
  }

  #append(audio: string): void {
    const format = this.#session.input_audio_format;
    const bytes = decodeBase64Audio(audio, format);
    const samples =
      format === 'pcm16'
        ? pcm16Samples(bytes)
        : format === 'g711_ulaw'
          ? decodeUlaw(bytes)
          : decodeAlaw(bytes);
    const rate = this.#rate();
    const max = this.options.maxBufferSeconds;
    const buffered = (this.#buffer.length + samples.length) / rate;
    // The buffer holds `max` seconds (server VAD commits at that point), and as much again may
    // wait for transcription: past that the service is too far behind and audio is refused.
    if ((this.#detector === undefined && buffered > max) || buffered + this.#pendingSeconds > 2 * max) {
      throw new RealtimeEventError(
        'input_audio_buffer_full',
        `The input audio buffer holds at most ${max} s of audio, and ${max} s more waiting for transcription: commit or clear it, or wait for transcripts; this chunk was dropped.`,
        'audio',
      );
    }
    this.#buffer.append(samples);
    const detector = this.#detector;
    if (detector === undefined) return;
    detector.push(samples);
    if (this.#speech === undefined) {
      // Keep what a speech start may still reach back to: the prefix padding and the tracker's
      // start run before the last judged frame, and what the detector looks back at.
      const keep = Math.max(this.#samplesOf(this.#prefixMs() + START_WINDOW_MS), detector.lookBack);
      this.#buffer.dropBefore(detector.decidedTo - keep);
    } else if (this.#buffer.length / rate >= this.options.maxBufferSeconds) {
      // Speech longer than the buffer: it is committed here, and the detector starts over.
      this.#stopSpeech(this.#buffer.end);
      detector.reset(this.#buffer.end);
    }
  }

  /** A turn the server VAD found, during an append (energy) or a little after (Silero). */
  #onTurn(turn: TurnEvent): void {
    if (this.#ended) return;
    if (turn.kind === 'speech_started') {
      const start = Math.max(this.#buffer.start, turn.at - this.#samplesOf(this.#prefixMs()));
      this.#speech = { itemId: newId('item'), start };
      this.#send({
        type: 'input_audio_buffer.speech_started',
        audio_start_ms: this.#ms(start),
        item_id: this.#speech.itemId,
      });
    } else if (this.#speech !== undefined) {
      this.#stopSpeech(turn.at);
    }
  }

  #stopSpeech(at: number): void {
    const speech = this.#speech;
    if (speech === undefined) return;
    this.#speech = undefined;
    this.#send({
      type: 'input_audio_buffer.speech_stopped',
      audio_end_ms: this.#ms(at),
      item_id: speech.itemId,
    });
    this.#commit(speech.itemId, this.#buffer.take(speech.start, at));
  }

  /** `input_audio_buffer.commit`: whatever is buffered, also in the middle of detected speech. */
  #commitNow(): void {
    const speech = this.#speech;
    const from = speech?.start ?? this.#buffer.start;
    if ((this.#buffer.end - from) / this.#rate() < MIN_COMMIT_MS / 1000) {
      throw new RealtimeEventError(
        'input_audio_buffer_commit_empty',
        `Error committing input audio buffer: buffer too small. Expected at least ${MIN_COMMIT_MS}ms of audio, but buffer only has ${Math.round(((this.#buffer.end - from) / this.#rate()) * 1000)}ms of audio.`,
      );
    }
    this.#speech = undefined;
    this.#detector?.reset(this.#buffer.end);
    this.#commit(speech?.itemId ?? newId('item'), this.#buffer.take(from, this.#buffer.end));
  }

  #commit(itemId: string, samples: Int16Array): void {
    this.#send({ type: 'input_audio_buffer.committed', previous_item_id: this.#lastItemId, item_id: itemId });
    this.#lastItemId = itemId;
    const rate = this.#rate();
    const seconds = samples.length / rate;
    const { language, prompt } = this.#session.input_audio_transcription;
    this.#pending += 1;
    this.#pendingSeconds += seconds;
    this.#idle?.cancel();
    this.#queue = this.#queue.then(async () => {
      try {
        await this.#transcribe(itemId, toModelRate(samples, rate), {
          language: language ?? undefined,
          prompt: prompt === '' ? undefined : prompt,
        });
      } finally {
        this.#pending -= 1;
        this.#pendingSeconds -= seconds;
        if (this.#pending === 0) this.#armIdle();
      }
    });
  }

  async #transcribe(
    itemId: string,
    audio: PcmAudio,
    options: { language: string | undefined; prompt: string | undefined },
  ): Promise<void> {
    if (this.#ended) return this.options.onUtterance?.('abandoned');
    try {
      const transcript = await this.options.transcribe(audio, options, this.#abort.signal, (delta) =>
        this.#send({
          type: 'conversation.item.input_audio_transcription.delta',
          item_id: itemId,
          content_index: 0,
          delta,
        }),
      );
      this.#send({
        type: 'conversation.item.input_audio_transcription.completed',
        item_id: itemId,
        content_index: 0,
        transcript: transcript.text,
        usage: transcriptUsage(transcript),
      });
      this.options.onUtterance?.('completed');
    } catch (error) {
      if (this.#ended) return this.options.onUtterance?.('abandoned');
      this.options.onUtterance?.('failed');
      const known = isVoiceStackError(error);
      this.options.log.warn(
        { event: 'realtime_transcription_failed', item_id: itemId, err: known ? undefined : error },
        known ? error.message : 'realtime transcription failed',
      );
      this.#send({
        type: 'conversation.item.input_audio_transcription.failed',
        item_id: itemId,
        content_index: 0,
        error: known
          ? { type: error.type, code: error.code, message: error.message, param: null }
          : {
              type: 'server_error',
              code: 'VS_ERR_INTERNAL',
              message: 'Internal server error: the failure was logged.',
              param: null,
            },
      });
    }
  }

  #error(error: unknown, clientEventIdValue: string | undefined): void {
    const known = error instanceof RealtimeEventError;
    if (!known)
      this.options.log.warn(
        { event: 'realtime_event_failed', err: errorMessage(error) },
        'client event failed',
      );
    this.#send({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        code: known ? error.eventCode : 'server_error',
        message: known ? error.message : 'The event could not be handled; the failure was logged.',
        param: known ? (error.param ?? null) : null,
        event_id: clientEventIdValue ?? null,
      },
    });
  }

  #send(event: { type: string } & Record<string, unknown>): void {
    if (this.#ended) return;
    this.socket.send(JSON.stringify({ event_id: newId('event'), ...event }));
  }

  #armIdle(): void {
    this.#idle?.cancel();
    if (this.#ended || this.#pending > 0) return;
    this.#idle = this.options.clock.setTimer(this.options.idleTimeoutMs, () => {
      const seconds = Math.round(this.options.idleTimeoutMs / 100) / 10;
      this.options.log.info({ event: 'realtime_idle_timeout', session: this.id }, 'realtime session idle');
      this.refuse(
        'session_idle_timeout',
        `No client event for ${seconds} s (REALTIME_IDLE_TIMEOUT_SECONDS): the session is closed.`,
        CLOSE_NORMAL,
      );
    });
  }

  #newDetector(): TurnDetector | undefined {
    const config = this.#session.turn_detection;
    if (config === null) return undefined;
    const onTurn = (turn: TurnEvent) => this.#onTurn(turn);
    const { findSpeech } = this.options;
    const detector =
      findSpeech === undefined
        ? new EnergyTurnDetector(config, this.#rate(), onTurn)
        : new SileroTurnDetector({
            config,
            sampleRate: this.#rate(),
            onTurn,
            read: (from, to) => this.#buffer.copy(from, to),
            findSpeech,
            onFallback: (error) => this.#onVadFallback(error),
          });
    detector.reset(this.#buffer.end);
    return detector;
  }

  /** Logged once per session: a block judged by level because the Silero VAD could not. */
  #onVadFallback(error: unknown): void {
    if (this.#vadFallbackLogged || this.#ended) return;
    this.#vadFallbackLogged = true;
    this.options.log.warn(
      {
        event: 'realtime_vad_fallback',
        session: this.id,
        err: error === undefined ? undefined : errorMessage(error),
      },
      'Silero VAD could not judge the audio; server VAD falls back to the energy detector for those frames',
    );
  }

  #rate(): number {
    return FORMAT_SAMPLE_RATE[this.#session.input_audio_format];
  }

  #prefixMs(): number {
    return this.#session.turn_detection?.prefix_padding_ms ?? 0;
  }

  #samplesOf(ms: number): number {
    return Math.round((ms / 1000) * this.#rate());
  }

  #ms(position: number): number {
    return Math.round(this.#msBase + (position * 1000) / this.#rate());
  }
}

function pcm16Samples(bytes: Buffer): Int16Array {
  // A copy: the message buffer may be pooled and is not aligned for Int16Array.
  const samples = new Int16Array(bytes.length / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = bytes.readInt16LE(i * 2);
  return samples;
}

function toModelRate(samples: Int16Array, rate: number): PcmAudio {
  const floats = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) floats[i] = (samples[i] as number) / 32768;
  return {
    sampleRate: SAMPLE_RATE,
    samples: rate === SAMPLE_RATE ? floats : resample(floats, rate, SAMPLE_RATE),
  };
}

function safeEventId(text: string): string | undefined {
  try {
    return clientEventId(JSON.parse(text));
  } catch {
    return undefined;
  }
}
