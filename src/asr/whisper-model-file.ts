/**
 * Walks a whisper.cpp model file (legacy ggml layout: magic, hparams, mel filters, vocabulary,
 * then tensors) without reading the weights, and says what is wrong with it.
 *
 * Why: whisper.cpp trusts the file. A file cut inside its vocabulary makes the loader read
 * lengths past the end and allocate whatever they say, which can end the process; a file cut
 * before its tensors loads as an "empty model for testing". Checking the structure first turns
 * both into a plain "this file is damaged" before native code sees it.
 */
import { open } from 'node:fs/promises';
import { AppError } from '../core/errors.js';

const GGML_MAGIC = 0x67676d6c;
const HPARAM_COUNT = 11;

/** Bytes per block and values per block of the ggml tensor types whisper models use. */
const TYPE_LAYOUT: Readonly<Record<number, { bytes: number; values: number }>> = {
  0: { bytes: 4, values: 1 }, // f32
  1: { bytes: 2, values: 1 }, // f16
  2: { bytes: 18, values: 32 }, // q4_0
  3: { bytes: 20, values: 32 }, // q4_1
  6: { bytes: 22, values: 32 }, // q5_0
  7: { bytes: 24, values: 32 }, // q5_1
  8: { bytes: 34, values: 32 }, // q8_0
  10: { bytes: 84, values: 256 }, // q2_k
  11: { bytes: 110, values: 256 }, // q3_k
  12: { bytes: 144, values: 256 }, // q4_k
  13: { bytes: 176, values: 256 }, // q5_k
  14: { bytes: 210, values: 256 }, // q6_k
};

export interface WhisperModelFileInfo {
  readonly vocabularySize: number;
  readonly audioLayers: number;
  readonly textLayers: number;
  readonly mels: number;
  readonly tensors: number;
  /** False when a tensor type is unknown here: the rest of the file was not walked. */
  readonly fullyChecked: boolean;
}

/** The file on disk is not a whole, well-formed whisper.cpp model (truncated, wrong format). */
export class DamagedModelFileError extends AppError {
  constructor(detail: string) {
    super('VS_ERR_MODEL_FILE_DAMAGED', detail);
  }
}

const READ_AHEAD = 1 << 16;

class PositionedReader {
  position = 0;
  private window = Buffer.alloc(0);
  private windowStart = 0;

  constructor(
    private readonly handle: Awaited<ReturnType<typeof open>>,
    readonly size: number,
  ) {}

  async bytes(length: number, what: string): Promise<Buffer> {
    if (length < 0 || this.position + length > this.size) {
      throw new DamagedModelFileError(`the file ends inside its ${what} (truncated download?)`);
    }
    // Read ahead in blocks: the vocabulary is 50k tiny records.
    const end = this.position + length;
    if (this.position < this.windowStart || end > this.windowStart + this.window.length) {
      const size = Math.min(Math.max(length, READ_AHEAD), this.size - this.position);
      this.window = Buffer.alloc(size);
      await this.handle.read(this.window, 0, size, this.position);
      this.windowStart = this.position;
    }
    const slice = this.window.subarray(this.position - this.windowStart, end - this.windowStart);
    this.position = end;
    return slice;
  }

  async int32s(count: number, what: string): Promise<number[]> {
    const buffer = await this.bytes(count * 4, what);
    return Array.from({ length: count }, (_, i) => buffer.readInt32LE(i * 4));
  }

  skip(length: number, what: string): void {
    if (this.position + length > this.size) {
      throw new DamagedModelFileError(`the file ends inside its ${what} (truncated download?)`);
    }
    this.position += length;
  }
}

export async function inspectWhisperModelFile(path: string): Promise<WhisperModelFileInfo> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    // The code, not the message: messages carry the path, and error bodies must not.
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new DamagedModelFileError(`the file cannot be opened (${code})`);
  }
  try {
    const reader = new PositionedReader(handle, (await handle.stat()).size);
    const [magic] = await reader.int32s(1, 'header');
    if (magic === undefined || magic >>> 0 !== GGML_MAGIC) {
      throw new DamagedModelFileError('not a whisper.cpp (ggml) model file: wrong magic number');
    }
    const hparams = await reader.int32s(HPARAM_COUNT, 'header');
    const [nVocab = 0, , , , audioLayers = 0, , , , textLayers = 0, mels = 0] = hparams;
    if (hparams.some((v) => v < 0) || nVocab <= 0 || nVocab > 1_000_000) {
      throw new DamagedModelFileError('the header holds impossible sizes');
    }
    const [nMel = -1, nFft = -1] = await reader.int32s(2, 'mel filters');
    if (nMel <= 0 || nFft <= 0 || nMel * nFft > 1 << 24) {
      throw new DamagedModelFileError('the mel filter table has impossible sizes');
    }
    reader.skip(nMel * nFft * 4, 'mel filters');
    const [vocabInFile = -1] = await reader.int32s(1, 'vocabulary');
    if (vocabInFile < 0 || vocabInFile > nVocab) {
      throw new DamagedModelFileError('the vocabulary size does not match the header');
    }
    for (let i = 0; i < vocabInFile; i++) {
      const [length = -1] = await reader.int32s(1, 'vocabulary');
      if (length < 0 || length > 1024)
        throw new DamagedModelFileError('the vocabulary holds an impossible token');
      reader.skip(length, 'vocabulary');
    }
    let tensors = 0;
    while (reader.position < reader.size) {
      const [dims = 0, nameLength = 0, type = -1] = await reader.int32s(3, 'tensors');
      if (dims < 1 || dims > 4 || nameLength < 1 || nameLength > 256) {
        throw new DamagedModelFileError(`tensor ${tensors + 1} has an impossible header`);
      }
      const shape = await reader.int32s(dims, 'tensors');
      reader.skip(nameLength, 'tensors');
      const layout = TYPE_LAYOUT[type];
      if (layout === undefined)
        return { vocabularySize: nVocab, audioLayers, textLayers, mels, tensors, fullyChecked: false };
      const values = shape.reduce((a, b) => a * b, 1);
      reader.skip(Math.ceil(values / layout.values) * layout.bytes, 'tensor data');
      tensors += 1;
    }
    if (tensors === 0) throw new DamagedModelFileError('the file holds no weights (truncated download?)');
    return { vocabularySize: nVocab, audioLayers, textLayers, mels, tensors, fullyChecked: true };
  } finally {
    await handle.close();
  }
}
