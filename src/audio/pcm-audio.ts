/** Mono audio as 32-bit float samples in [-1, 1]. The one shape audio takes between layers. */
export interface PcmAudio {
  readonly sampleRate: number;
  readonly samples: Float32Array;
}

export function durationSeconds(audio: PcmAudio): number {
  return audio.samples.length / audio.sampleRate;
}
