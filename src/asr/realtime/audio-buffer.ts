/**
 * A session's input audio buffer: 16-bit samples at the session's input rate, addressed by
 * their position on the session's timeline (samples since the format was last set), so the
 * turn detector's positions index it directly. Old audio is dropped from the front.
 */
export class AudioBuffer {
  #chunks: Int16Array[] = [];
  /** Timeline position of the first sample held. */
  #start = 0;
  #length = 0;

  /** Timeline position of the next sample appended. */
  get end(): number {
    return this.#start + this.#length;
  }

  get start(): number {
    return this.#start;
  }

  get length(): number {
    return this.#length;
  }

  append(samples: Int16Array): void {
    if (samples.length === 0) return;
    this.#chunks.push(samples);
    this.#length += samples.length;
  }

  /** Forgets everything before timeline position `position`. */
  dropBefore(position: number): void {
    let drop = Math.min(this.#length, position - this.#start);
    if (drop <= 0) return;
    this.#start += drop;
    this.#length -= drop;
    while (drop > 0) {
      const first = this.#chunks[0] as Int16Array;
      if (first.length <= drop) {
        this.#chunks.shift();
        drop -= first.length;
      } else {
        this.#chunks[0] = first.subarray(drop);
        drop = 0;
      }
    }
  }

  /** A copy of the samples from `from` to `to`, clamped to what is held. */
  copy(from: number, to: number): Int16Array {
    const begin = Math.max(from, this.#start);
    const end = Math.min(to, this.end);
    const out = new Int16Array(Math.max(0, end - begin));
    let position = this.#start;
    for (const chunk of this.#chunks) {
      const chunkEnd = position + chunk.length;
      const a = Math.max(begin, position);
      const b = Math.min(end, chunkEnd);
      if (a < b) out.set(chunk.subarray(a - position, b - position), a - begin);
      position = chunkEnd;
      if (position >= end) break;
    }
    return out;
  }

  /** copy(), then forgets everything before `to`. */
  take(from: number, to: number): Int16Array {
    const out = this.copy(from, to);
    this.dropBefore(to);
    return out;
  }

  /** Empties the buffer; the timeline goes on from `end` (or restarts at 0 with `restart`). */
  clear(restart = false): void {
    const end = this.end;
    this.#chunks = [];
    this.#length = 0;
    this.#start = restart ? 0 : end;
  }
}
