export interface WavInfo {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  dataOffset: number;
  dataBytes: number;
  durationSeconds: number;
}

/**
 * Reads a RIFF/WAVE header. Streamed WAVs (espeak-ng --stdout, chunked TTS
 * responses) carry a placeholder data size, so the size is capped at what the
 * buffer really holds.
 */
export function readWavInfo(buffer: Buffer): WavInfo | undefined {
  if (buffer.length < 12 || buffer.toString('ascii', 0, 4) !== 'RIFF') return undefined;
  if (buffer.toString('ascii', 8, 12) !== 'WAVE') return undefined;
  let offset = 12;
  let format: Omit<WavInfo, 'dataOffset' | 'dataBytes' | 'durationSeconds'> | undefined;
  while (offset + 8 <= buffer.length) {
    const id = buffer.toString('ascii', offset, offset + 4);
    const size = buffer.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ' && body + 16 <= buffer.length) {
      format = {
        channels: buffer.readUInt16LE(body + 2),
        sampleRate: buffer.readUInt32LE(body + 4),
        bitsPerSample: buffer.readUInt16LE(body + 14),
      };
    } else if (id === 'data' && format) {
      const dataBytes = Math.min(size, buffer.length - body);
      const bytesPerSecond = format.sampleRate * format.channels * (format.bitsPerSample / 8);
      const durationSeconds = bytesPerSecond > 0 ? dataBytes / bytesPerSecond : 0;
      return { ...format, dataOffset: body, dataBytes, durationSeconds };
    }
    offset = body + size + (size % 2);
  }
  return undefined;
}

/** Rewrites the RIFF and data sizes so the file is valid for strict decoders. */
export function withExactWavSizes(buffer: Buffer): Buffer {
  const info = readWavInfo(buffer);
  if (!info) return buffer;
  const fixed = Buffer.from(buffer.subarray(0, info.dataOffset + info.dataBytes));
  fixed.writeUInt32LE(fixed.length - 8, 4);
  fixed.writeUInt32LE(info.dataBytes, info.dataOffset - 4);
  return fixed;
}
