/** What every engine (ASR or TTS) tells about itself, for /health/detailed and /v1/models. */
export interface EngineDescription {
  readonly engine: string;
  readonly modelName: string;
  readonly device: string;
  /** Which build of its native code runs, for engines that have several (whisper.cpp). */
  readonly build?: string;
}

/**
 * The lifecycle half of every engine. A ModelSlot owns the calls: `load` happens on
 * first use, `unload` after the idle timeout; neither is called twice in a row.
 */
export interface LoadableEngine {
  describe(): EngineDescription;
  load(): Promise<void>;
  unload(): Promise<void>;
}
