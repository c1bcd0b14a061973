import type { SpooledAudio } from '../audio/decode-stream.js';
import type { TranscribeOptions, Transcript } from './engines/asr-engine.js';

/**
 * Where the synchronous routes send a transcription with ASR_DISPATCH=queue: some other
 * process's engine (a worker fleet). The routes know this interface, never the queue.
 */
export interface RemoteTranscriber {
  /** Throws the 503 a refused request gets (backlog full, queue unreachable) before the upload is read. */
  admit(): Promise<void>;
  /** Resolves with the transcript; `signal` (the client going away) cancels the remote work. */
  transcribe(audio: SpooledAudio, options: TranscribeOptions, signal: AbortSignal): Promise<Transcript>;
}
