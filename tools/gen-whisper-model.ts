/**
 * Writes whisper.cpp model files with random weights, so the real native engine can be
 * loaded and exercised where no trained weights can be downloaded.
 *
 * The layout is the legacy `ggml` format read by whisper.cpp's `whisper_model_load`:
 * magic, hparams, mel filters, vocab, then tensors (n_dims, name length, type, shape,
 * name, data) until end of file. Shapes are written in ggml order (innermost first).
 *
 * The same file also writes a Silero VAD model in the layout `whisper_vad_init_with_params`
 * reads, because no package on the reachable registries ships one in ggml form.
 *
 *   node dist/tools/gen-whisper-model.js --preset test --out /tmp/ggml-test.bin [--seed 1] [--type f16]
 *   node dist/tools/gen-whisper-model.js --vad --out /tmp/ggml-silero-random.bin
 *   node dist/tools/gen-whisper-model.js --vad --detector speech-band --out /tmp/ggml-silero-speech-band.bin
 */
import { open } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

export type WhisperPreset = 'test' | 'tiny' | 'base' | 'large-v3' | 'large-v3-turbo';
export type WeightType = 'f16' | 'f32';

interface WhisperHparams {
  readonly nVocab: number;
  readonly nAudioCtx: number;
  readonly nAudioState: number;
  readonly nAudioHead: number;
  readonly nAudioLayer: number;
  readonly nTextCtx: number;
  readonly nTextState: number;
  readonly nTextHead: number;
  readonly nTextLayer: number;
  readonly nMels: number;
}

// The multilingual vocabulary size is kept in every preset: whisper.cpp derives the special
// token ids (sot, language, transcribe/translate, timestamps) from it.
const common = { nVocab: 51865, nAudioCtx: 1500, nTextCtx: 448, nMels: 80 } as const;

// large-v3 reads 128 mel bands and has one more language token (Cantonese), which
// whisper.cpp recognises by the vocabulary size and shifts every special token id for.
const LARGE_V3 = {
  ...common,
  nVocab: 51866,
  nMels: 128,
  nAudioState: 1280,
  nAudioHead: 20,
  nAudioLayer: 32,
  nTextState: 1280,
  nTextHead: 20,
} as const;

export const WHISPER_PRESETS: Readonly<Record<WhisperPreset, WhisperHparams>> = {
  test: {
    ...common,
    nAudioState: 64,
    nAudioHead: 2,
    nAudioLayer: 1,
    nTextState: 64,
    nTextHead: 2,
    nTextLayer: 1,
  },
  tiny: {
    ...common,
    nAudioState: 384,
    nAudioHead: 6,
    nAudioLayer: 4,
    nTextState: 384,
    nTextHead: 6,
    nTextLayer: 4,
  },
  base: {
    ...common,
    nAudioState: 512,
    nAudioHead: 8,
    nAudioLayer: 6,
    nTextState: 512,
    nTextHead: 8,
    nTextLayer: 6,
  },
  'large-v3': { ...LARGE_V3, nTextLayer: 32 },
  // large-v3's encoder with a 4-layer decoder: what the GPU check times, since it is the
  // large model people run for speed.
  'large-v3-turbo': { ...LARGE_V3, nTextLayer: 4 },
};

/** Tokens the BPE file holds; whisper.cpp adds the special tokens past these itself. */
const N_TEXT_TOKENS = 50257;
const GGML_MAGIC = 0x67676d6c;
const SAMPLE_RATE = 16000;
const N_FFT = 400;

enum GgmlType {
  F32 = 0,
  F16 = 1,
}

export interface GenerateWhisperModelOptions {
  readonly preset: WhisperPreset;
  readonly outPath: string;
  readonly seed?: number;
  readonly weightType?: WeightType;
  /**
   * Every syllable token ends with the first byte of 'ä' (0xC3) and starts with its second (0xA4),
   * as byte-level BPE splits one character over two tokens: consecutive tokens decode to 'ä'
   * only when joined as bytes.
   */
  readonly splitCharacters?: boolean;
}

export interface GeneratedModel {
  readonly path: string;
  readonly bytes: number;
}

/** sfc32: fast, good enough for weights, and reproducible from a 32-bit seed. */
class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }
}

type Init =
  /** `rows` replaces whole rows (ne[0] values each) of an otherwise random tensor. */
  | { readonly kind: 'uniform'; readonly std: number; readonly rows?: ReadonlyMap<number, Float32Array> }
  | { readonly kind: 'constant'; readonly value: number }
  | { readonly kind: 'values'; readonly values: Float32Array };

interface TensorSpec {
  readonly name: string;
  /** ggml order: ne[0] is the innermost (fastest-varying) dimension. */
  readonly ne: readonly number[];
  readonly type: GgmlType;
  readonly init: Init;
}

const f32View = new Float32Array(1);
const u32View = new Uint32Array(f32View.buffer);

/** IEEE half from float, round-to-nearest-even; weights are small so no overflow path is needed beyond inf. */
function toHalf(value: number): number {
  f32View[0] = value;
  const x = u32View[0] ?? 0;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  return sign | (half + (rem > 0x1000 || (rem === 0x1000 && half & 1) ? 1 : 0));
}

class GgmlWriter {
  private chunks: Buffer[] = [];
  private pending = 0;
  bytes = 0;

  private constructor(private readonly handle: Awaited<ReturnType<typeof open>>) {}

  static async create(path: string): Promise<GgmlWriter> {
    return new GgmlWriter(await open(path, 'w'));
  }

  async push(buffer: Buffer): Promise<void> {
    this.chunks.push(buffer);
    this.pending += buffer.length;
    this.bytes += buffer.length;
    // Batching small header writes keeps the syscall count low without holding a whole model in memory.
    if (this.pending >= 1 << 22) await this.flush();
  }

  async int32s(...values: number[]): Promise<void> {
    const buffer = Buffer.allocUnsafe(values.length * 4);
    values.forEach((v, i) => {
      buffer.writeInt32LE(v, i * 4);
    });
    await this.push(buffer);
  }

  async flush(): Promise<void> {
    if (this.pending === 0) return;
    await this.handle.write(Buffer.concat(this.chunks, this.pending));
    this.chunks = [];
    this.pending = 0;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.handle.close();
  }
}

const CHUNK_ELEMENTS = 1 << 20;

async function writeTensor(out: GgmlWriter, spec: TensorSpec, random: Random): Promise<void> {
  const name = Buffer.from(spec.name, 'utf8');
  await out.int32s(spec.ne.length, name.length, spec.type, ...spec.ne);
  await out.push(name);
  const count = spec.ne.reduce((a, b) => a * b, 1);
  const width = spec.type === GgmlType.F16 ? 2 : 4;
  const { init } = spec;
  // Uniform in [-a, a] has the variance of a normal with std a/sqrt(3), at a fraction of the cost.
  const amplitude = init.kind === 'uniform' ? init.std * Math.sqrt(3) : 0;
  const rowLength = spec.ne[0] ?? 1;
  for (let start = 0; start < count; start += CHUNK_ELEMENTS) {
    const n = Math.min(CHUNK_ELEMENTS, count - start);
    // Typed arrays are host-endian; whisper.cpp reads little-endian, which every supported host is.
    const data = width === 2 ? new Uint16Array(n) : new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let value: number;
      if (init.kind === 'uniform') {
        value = (random.next() * 2 - 1) * amplitude;
        const index = start + i;
        const row = init.rows?.get(Math.floor(index / rowLength));
        if (row !== undefined) value = row[index % rowLength] ?? 0;
      } else if (init.kind === 'constant') value = init.value;
      else value = init.values[start + i] ?? 0;
      data[i] = width === 2 ? toHalf(value) : value;
    }
    await out.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }
}

function hzToMel(hz: number): number {
  // Slaney scale, as librosa (and so OpenAI's mel filters) uses: linear below 1 kHz, log above.
  const fSp = 200 / 3;
  if (hz < 1000) return hz / fSp;
  return 1000 / fSp + Math.log(hz / 1000) / (Math.log(6.4) / 27);
}

function melToHz(mel: number): number {
  const fSp = 200 / 3;
  const minLogMel = 1000 / fSp;
  if (mel < minLogMel) return mel * fSp;
  return 1000 * Math.exp((Math.log(6.4) / 27) * (mel - minLogMel));
}

/** Real (not random) Slaney-normalised mel filters, so the encoder sees a genuine log-mel input. */
export function melFilters(nMels: number): Float32Array {
  const nFreq = N_FFT / 2 + 1;
  const fftFreqs = Array.from({ length: nFreq }, (_, i) => (i * SAMPLE_RATE) / N_FFT);
  const melMax = hzToMel(SAMPLE_RATE / 2);
  const points = Array.from({ length: nMels + 2 }, (_, i) => melToHz((i * melMax) / (nMels + 1)));
  const filters = new Float32Array(nMels * nFreq);
  for (let m = 0; m < nMels; m++) {
    const lo = points[m] ?? 0;
    const center = points[m + 1] ?? 0;
    const hi = points[m + 2] ?? 0;
    const norm = 2 / (hi - lo);
    for (let f = 0; f < nFreq; f++) {
      const freq = fftFreqs[f] ?? 0;
      const weight = Math.max(0, Math.min((freq - lo) / (center - lo), (hi - freq) / (hi - center)));
      filters[m * nFreq + f] = weight * norm;
    }
  }
  return filters;
}

const SYLLABLES = (() => {
  const consonants = 'bdfghklmnprstvz'.split('');
  const vowels = 'aeiou'.split('');
  return consonants.flatMap((c) => vowels.map((v) => c + v)).concat(['an', 'el', 'in', 'or', 'us']);
})();

/**
 * Made-up but printable, unique tokens: syllable words, most with the leading space that marks a
 * word start in Whisper's BPE (word timestamps rely on it), plus GPT-2's ids for common punctuation
 * and for the lone space, which whisper.cpp looks up by text (`token_to_id.at(" ")`) and throws without.
 */
export function tokenText(id: number): string {
  const punctuation: Record<number, string> = { 0: '!', 11: ',', 13: '.', 30: '?', 220: ' ' };
  const mark = punctuation[id];
  if (mark !== undefined) return mark;
  let word = '';
  let n = id;
  do {
    word += SYLLABLES[n % SYLLABLES.length];
    n = Math.floor(n / SYLLABLES.length);
  } while (n > 0);
  return id % 4 === 0 ? word : ` ${word}`;
}

function sinusoids(length: number, channels: number): Float32Array {
  // Whisper's encoder uses fixed sinusoids: sin in the first half of the channels, cos in the second.
  const half = channels / 2;
  const increment = Math.log(10000) / (half - 1);
  const values = new Float32Array(length * channels);
  for (let t = 0; t < length; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t * Math.exp(-increment * i);
      values[t * channels + i] = Math.sin(angle);
      values[t * channels + half + i] = Math.cos(angle);
    }
  }
  return values;
}

/** Multilingual end-of-text id: whisper.cpp shifts the GPT-2 id (50256) by one for these vocabularies. */
const TOKEN_EOT = 50257;
/** Decoder position from which the random model starts to prefer ending the window. */
const EOT_FROM_POSITION = 48;

/**
 * Shapes the decoder so random weights still decode like a model: a strong random positional
 * embedding makes each step pick a different, confident token (tied input/output embeddings would
 * otherwise repeat the last token forever), and a direction shared by the late positions and the
 * end-of-text row makes each window end after a few dozen tokens instead of running to n_text_ctx/2.
 */
function decoderEmbeddings(h: WhisperHparams, wtype: GgmlType): TensorSpec[] {
  const d = h.nTextState;
  const positionStd = 3;
  const tokenStd = 8 / Math.sqrt(d);
  const direction = Float32Array.from({ length: d }, (_, i) => (i % 2 === 0 ? 1 : -1) / Math.sqrt(d));
  const positionRows = new Map<number, Float32Array>();
  const random = new Random(0x5eed);
  for (let pos = EOT_FROM_POSITION; pos < h.nTextCtx; pos++) {
    const ramp = positionStd * Math.sqrt(d) * ((pos - EOT_FROM_POSITION) / 8);
    positionRows.set(
      pos,
      Float32Array.from(direction, (u) => (random.next() * 2 - 1) * positionStd * Math.sqrt(3) + ramp * u),
    );
  }
  const eotRow = Float32Array.from(direction, (u) => u * tokenStd * Math.sqrt(d));
  return [
    {
      name: 'decoder.positional_embedding',
      ne: [d, h.nTextCtx],
      type: GgmlType.F32,
      init: { kind: 'uniform', std: positionStd, rows: positionRows },
    },
    {
      name: 'decoder.token_embedding.weight',
      ne: [d, h.nVocab],
      type: wtype,
      init: { kind: 'uniform', std: tokenStd, rows: new Map([[TOKEN_EOT, eotRow]]) },
    },
  ];
}

function whisperTensors(h: WhisperHparams, wtype: GgmlType): TensorSpec[] {
  // whisper.cpp keeps the conv kernels in f16 whenever the model is not f32.
  const vtype = wtype;
  const bias = (name: string, n: number): TensorSpec => ({
    name,
    ne: [n],
    type: GgmlType.F32,
    init: { kind: 'uniform', std: 0.02 },
  });
  const norm = (prefix: string, n: number): TensorSpec[] => [
    { name: `${prefix}.weight`, ne: [n], type: GgmlType.F32, init: { kind: 'constant', value: 1 } },
    { name: `${prefix}.bias`, ne: [n], type: GgmlType.F32, init: { kind: 'constant', value: 0 } },
  ];
  // Scaled by fan-in so each projection keeps activations near unit variance: no overflow to NaN in f16.
  const matrix = (name: string, nIn: number, nOut: number): TensorSpec => ({
    name,
    ne: [nIn, nOut],
    type: wtype,
    init: { kind: 'uniform', std: 1 / Math.sqrt(nIn) },
  });
  const attention = (prefix: string, d: number): TensorSpec[] => [
    matrix(`${prefix}.query.weight`, d, d),
    bias(`${prefix}.query.bias`, d),
    matrix(`${prefix}.key.weight`, d, d),
    matrix(`${prefix}.value.weight`, d, d),
    bias(`${prefix}.value.bias`, d),
    matrix(`${prefix}.out.weight`, d, d),
    bias(`${prefix}.out.bias`, d),
  ];
  const mlp = (prefix: string, d: number): TensorSpec[] => [
    ...norm(`${prefix}.mlp_ln`, d),
    matrix(`${prefix}.mlp.0.weight`, d, 4 * d),
    bias(`${prefix}.mlp.0.bias`, 4 * d),
    matrix(`${prefix}.mlp.2.weight`, 4 * d, d),
    bias(`${prefix}.mlp.2.bias`, d),
  ];

  const da = h.nAudioState;
  const dt = h.nTextState;
  const tensors: TensorSpec[] = [
    {
      name: 'encoder.positional_embedding',
      ne: [da, h.nAudioCtx],
      type: GgmlType.F32,
      init: { kind: 'values', values: sinusoids(h.nAudioCtx, da) },
    },
    {
      name: 'encoder.conv1.weight',
      ne: [3, h.nMels, da],
      type: vtype,
      init: { kind: 'uniform', std: 1 / Math.sqrt(3 * h.nMels) },
    },
    { name: 'encoder.conv1.bias', ne: [1, da], type: GgmlType.F32, init: { kind: 'uniform', std: 0.02 } },
    {
      name: 'encoder.conv2.weight',
      ne: [3, da, da],
      type: vtype,
      init: { kind: 'uniform', std: 1 / Math.sqrt(3 * da) },
    },
    { name: 'encoder.conv2.bias', ne: [1, da], type: GgmlType.F32, init: { kind: 'uniform', std: 0.02 } },
  ];
  for (let i = 0; i < h.nAudioLayer; i++) {
    const p = `encoder.blocks.${i}`;
    tensors.push(...norm(`${p}.attn_ln`, da), ...attention(`${p}.attn`, da), ...mlp(p, da));
  }
  tensors.push(...norm('encoder.ln_post', da));

  tensors.push(...decoderEmbeddings(h, wtype));
  for (let i = 0; i < h.nTextLayer; i++) {
    const p = `decoder.blocks.${i}`;
    tensors.push(
      ...norm(`${p}.attn_ln`, dt),
      ...attention(`${p}.attn`, dt),
      ...norm(`${p}.cross_attn_ln`, dt),
      ...attention(`${p}.cross_attn`, dt),
      ...mlp(p, dt),
    );
  }
  tensors.push(...norm('decoder.ln', dt));
  return tensors;
}

export async function generateWhisperModel(options: GenerateWhisperModelOptions): Promise<GeneratedModel> {
  const h = WHISPER_PRESETS[options.preset];
  if (h === undefined)
    throw new Error(`unknown preset '${options.preset}' (${Object.keys(WHISPER_PRESETS).join(', ')})`);
  const wtype = (options.weightType ?? 'f16') === 'f16' ? GgmlType.F16 : GgmlType.F32;
  const random = new Random(options.seed ?? 1);
  const out = await GgmlWriter.create(options.outPath);
  try {
    await out.int32s(
      GGML_MAGIC,
      h.nVocab,
      h.nAudioCtx,
      h.nAudioState,
      h.nAudioHead,
      h.nAudioLayer,
      h.nTextCtx,
      h.nTextState,
      h.nTextHead,
      h.nTextLayer,
      h.nMels,
      wtype, // ftype: 0 = all f32, 1 = mostly f16
    );
    const filters = melFilters(h.nMels);
    await out.int32s(h.nMels, N_FFT / 2 + 1);
    await out.push(Buffer.from(filters.buffer, filters.byteOffset, filters.byteLength));

    await out.int32s(N_TEXT_TOKENS);
    for (let id = 0; id < N_TEXT_TOKENS; id++) {
      const word = Buffer.from(tokenText(id), 'utf8');
      const split = options.splitCharacters === true && /^ ?[a-z]+$/.test(tokenText(id));
      const text = split ? Buffer.concat([Buffer.from([0xa4]), word, Buffer.from([0xc3])]) : word;
      await out.int32s(text.length);
      await out.push(text);
    }

    for (const spec of whisperTensors(h, wtype)) await writeTensor(out, spec, random);
  } finally {
    await out.close();
  }
  return { path: options.outPath, bytes: out.bytes };
}

/**
 * `random`: random weights and a +2 output bias, so almost every frame is called speech (tests that
 * only need a VAD that loads, and audio left to transcribe, rely on it). `speech-band`: chosen
 * weights, so a window is speech when its 150 Hz–4 kHz energy passes a threshold (SPEECH_BAND_VAD).
 */
export type VadDetector = 'random' | 'speech-band';

export interface GenerateVadModelOptions {
  readonly outPath: string;
  readonly seed?: number;
  /** Default `random`. */
  readonly detector?: VadDetector;
}

/** Silero VAD v5 (16 kHz) dimensions, as whisper.cpp's converter writes them. */
const VAD = {
  type: 'silero-16k',
  version: [5, 1, 2],
  nWindow: 512,
  nContext: 64,
  encoder: [
    [129, 128, 3],
    [128, 64, 3],
    [64, 64, 3],
    [64, 128, 3],
  ],
  lstmInput: 128,
  lstmHidden: 128,
  finalConvIn: 128,
  finalConvOut: 1,
} as const;

const VAD_N_FFT = 256;
const VAD_N_BINS = VAD_N_FFT / 2 + 1;

function stftBasis(): Float32Array {
  // A genuine windowed DFT basis (129 real rows, then 129 imaginary), so the VAD input is a real spectrum.
  const nFft = VAD_N_FFT;
  const nBins = VAD_N_BINS;
  const basis = new Float32Array(2 * nBins * nFft);
  for (let k = 0; k < nBins; k++) {
    for (let n = 0; n < nFft; n++) {
      const window = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / nFft);
      const angle = (2 * Math.PI * k * n) / nFft;
      basis[k * nFft + n] = window * Math.cos(angle);
      basis[(nBins + k) * nFft + n] = -window * Math.sin(angle);
    }
  }
  return basis;
}

/**
 * What the `speech-band` detector computes for each 512-sample window (32 ms at 16 kHz), following
 * whisper.cpp's Silero graph (`whisper_vad_build_graph`):
 * - the STFT conv (the DFT basis above, hop 128, over the window reflect-padded by 64) gives 4 frames
 *   of 129 bin magnitudes; frames 0 and 3 straddle the reflection points, where a loud tone of any
 *   frequency gets a kink that spreads over every bin, so only frames 1 and 2 (samples 64–447) count;
 * - encoder 0 sums, per frame, the magnitudes of the bins from `lowHz` to `highHz` (bins 3–64, 62.5 Hz
 *   apart) into channel 0, centre tap only; encoder 1 (stride 2) keeps frame 1 in channel 0 and frame 2
 *   in channel 1, encoder 2 (stride 2) adds them, encoder 3 passes the sum E on (every other weight and
 *   bias 0; the ReLUs see only sums of magnitudes);
 * - the LSTM's unit 0: input and output gates ≈ 1 (bias +GATE), forget gate ≈ 0 (bias −GATE), no
 *   recurrent weights, cell input g = tanh(GAIN·(E − threshold) + OFFSET), so h = tanh(g): the
 *   window alone decides, and whisper.cpp's segment rules (min speech 250 ms, min silence 100 ms,
 *   30 ms padding) do the smoothing;
 * - the final conv: p = sigmoid(OUT_WEIGHT·relu(h) − OUT_BIAS), so p = sigmoid(−4) ≈ 0.018 below the
 *   threshold, 0.5 at E = threshold, ≈ 0.99 at 1.5× the threshold.
 * E is a sum of magnitudes (an L1 level, not a power), so its scale depends on the spectrum: about
 * 1080·σ for white noise of RMS σ (62 bins × 2 frames × 8.7σ) and 256·A for a tone of amplitude A in
 * the band; −50 dBFS white noise gives about 3.4, so the threshold (6) lies between quiet noise
 * (white noise is speech from about −45 dBFS) and a voice at −30 dBFS. A 7 kHz tone puts nothing in
 * the band, however loud: silence.
 */
export const SPEECH_BAND_VAD = { lowHz: 150, highHz: 4000, threshold: 6 } as const;

/** Pre-activations far enough out that sigmoid is 0 or 1 to within 5e-5. */
const GATE = 10;
/** tanh(tanh(OFFSET)) = 1/3, where OUT_WEIGHT·h − OUT_BIAS = 0: p is 0.5 exactly at the threshold. */
const OFFSET = Math.atanh(Math.atanh(1 / 3));
const OUT_WEIGHT = 12;
const OUT_BIAS = 4;
/** The cell input's slope per unit of E: it reaches tanh(≈2.4) at 1.5× the threshold. */
const GAIN = 4 / SPEECH_BAND_VAD.threshold;

function speechBandBins(): number[] {
  const binHz = 16000 / VAD_N_FFT;
  const bins: number[] = [];
  for (let k = Math.ceil(SPEECH_BAND_VAD.lowHz / binHz); k * binHz <= SPEECH_BAND_VAD.highHz; k++)
    bins.push(k);
  return bins;
}

/** Conv weights in ggml order [kernel, nIn, nOut]: element (tap, in, out) at tap + kernel·(in + nIn·out). */
function convWeights(
  [nIn, nOut, kernel]: readonly [number, number, number],
  taps: ReadonlyArray<{ tap: number; input: number; output: number; value: number }>,
): Float32Array {
  const values = new Float32Array(kernel * nIn * nOut);
  for (const { tap, input, output, value } of taps) values[tap + kernel * (input + nIn * output)] = value;
  return values;
}

function speechBandEncoder(): Float32Array[] {
  const [layer0, layer1, layer2, layer3] = VAD.encoder;
  // With padding 1 a kernel-3 conv reads x[o·stride − 1 + tap]. Encoder 1's two outputs read frames
  // (−1, 0, 1) and (1, 2, 3): tap 2 of output 0 is frame 1 (channel 0), tap 1 of output 1 is frame 2
  // (channel 1). Encoder 2's one output reads encoder 1's outputs (−1, 0, 1): channel 0 at tap 1, channel 1 at tap 2.
  const tap = (at: number, input: number, output: number) => ({ tap: at, input, output, value: 1 });
  return [
    convWeights(
      layer0,
      speechBandBins().map((bin) => tap(1, bin, 0)),
    ),
    convWeights(layer1, [tap(2, 0, 0), tap(1, 0, 1)]),
    convWeights(layer2, [tap(1, 0, 0), tap(2, 1, 0)]),
    convWeights(layer3, [tap(1, 0, 0)]),
  ];
}

function vadEncoderTensors(detector: VadDetector): TensorSpec[] {
  const chosen = detector === 'speech-band' ? speechBandEncoder() : undefined;
  return VAD.encoder.flatMap(([nIn, nOut, kernel], i): TensorSpec[] => {
    const weights = chosen?.[i];
    return [
      {
        name: `_model.encoder.${i}.reparam_conv.weight`,
        ne: [kernel, nIn, nOut],
        type: GgmlType.F16,
        init:
          weights === undefined
            ? { kind: 'uniform', std: 1 / Math.sqrt(kernel * nIn) }
            : { kind: 'values', values: weights },
      },
      {
        name: `_model.encoder.${i}.reparam_conv.bias`,
        ne: [nOut],
        type: GgmlType.F32,
        init: weights === undefined ? { kind: 'uniform', std: 0.02 } : { kind: 'constant', value: 0 },
      },
    ];
  });
}

function randomVadDecoderTensors(): TensorSpec[] {
  const hidden = VAD.lstmHidden;
  const lstm = (name: string, ne: number[], std: number): TensorSpec => ({
    name,
    ne,
    type: GgmlType.F32,
    init: { kind: 'uniform', std },
  });
  return [
    lstm('_model.decoder.rnn.weight_ih', [VAD.lstmInput, 4 * hidden], 1 / Math.sqrt(VAD.lstmInput)),
    lstm('_model.decoder.rnn.weight_hh', [hidden, 4 * hidden], 1 / Math.sqrt(hidden)),
    lstm('_model.decoder.rnn.bias_ih', [4 * hidden], 0.02),
    lstm('_model.decoder.rnn.bias_hh', [4 * hidden], 0.02),
    {
      name: '_model.decoder.decoder.2.weight',
      ne: [VAD.finalConvIn, 1],
      type: GgmlType.F16,
      init: { kind: 'uniform', std: 1 / Math.sqrt(VAD.finalConvIn) },
    },
    // A positive bias makes the random detector call most frames speech, so tests that use it still
    // have audio left to transcribe.
    {
      name: '_model.decoder.decoder.2.bias',
      ne: [1],
      type: GgmlType.F32,
      init: { kind: 'constant', value: 2 },
    },
  ];
}

function speechBandDecoderTensors(): TensorSpec[] {
  const hidden = VAD.lstmHidden;
  // Gate rows in PyTorch's (and whisper.cpp's) order i, f, g, o; only unit 0 of each is used.
  const [input, forget, cell, output] = [0, 1, 2, 3].map((gate) => gate * hidden) as [
    number,
    number,
    number,
    number,
  ];
  const weightIh = new Float32Array(VAD.lstmInput * 4 * hidden);
  weightIh[cell * VAD.lstmInput] = GAIN;
  const biasIh = new Float32Array(4 * hidden);
  biasIh[input] = GATE;
  biasIh[forget] = -GATE;
  biasIh[cell] = OFFSET - GAIN * SPEECH_BAND_VAD.threshold;
  biasIh[output] = GATE;
  const finalWeight = new Float32Array(VAD.finalConvIn);
  finalWeight[0] = OUT_WEIGHT;
  const values = (name: string, ne: number[], data: Float32Array, type = GgmlType.F32): TensorSpec => ({
    name,
    ne,
    type,
    init: { kind: 'values', values: data },
  });
  return [
    values('_model.decoder.rnn.weight_ih', [VAD.lstmInput, 4 * hidden], weightIh),
    {
      name: '_model.decoder.rnn.weight_hh',
      ne: [hidden, 4 * hidden],
      type: GgmlType.F32,
      init: { kind: 'constant', value: 0 },
    },
    values('_model.decoder.rnn.bias_ih', [4 * hidden], biasIh),
    {
      name: '_model.decoder.rnn.bias_hh',
      ne: [4 * hidden],
      type: GgmlType.F32,
      init: { kind: 'constant', value: 0 },
    },
    values('_model.decoder.decoder.2.weight', [VAD.finalConvIn, 1], finalWeight, GgmlType.F16),
    {
      name: '_model.decoder.decoder.2.bias',
      ne: [1],
      type: GgmlType.F32,
      init: { kind: 'constant', value: -OUT_BIAS },
    },
  ];
}

export async function generateSileroVadModel(options: GenerateVadModelOptions): Promise<GeneratedModel> {
  const detector = options.detector ?? 'random';
  if (detector !== 'random' && detector !== 'speech-band')
    throw new Error(`unknown VAD detector '${detector}' (random, speech-band)`);
  const random = new Random(options.seed ?? 1);
  const out = await GgmlWriter.create(options.outPath);
  try {
    const type = Buffer.from(VAD.type, 'utf8');
    await out.int32s(GGML_MAGIC, type.length);
    await out.push(type);
    await out.int32s(...VAD.version, VAD.nWindow, VAD.nContext, VAD.encoder.length);
    for (const layer of VAD.encoder) await out.int32s(...layer);
    await out.int32s(VAD.lstmInput, VAD.lstmHidden, VAD.finalConvIn, VAD.finalConvOut);

    const tensors: TensorSpec[] = [
      {
        name: '_model.stft.forward_basis_buffer',
        ne: [VAD_N_FFT, 1, 2 * VAD_N_BINS],
        type: GgmlType.F16,
        init: { kind: 'values', values: stftBasis() },
      },
      ...vadEncoderTensors(detector),
      ...(detector === 'speech-band' ? speechBandDecoderTensors() : randomVadDecoderTensors()),
    ];
    for (const spec of tensors) await writeTensor(out, spec, random);
  } finally {
    await out.close();
  }
  return { path: options.outPath, bytes: out.bytes };
}

function parseArgs(argv: readonly string[]): Map<string, string> {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i] ?? '';
    if (!key.startsWith('--')) throw new Error(`unexpected argument '${key}'`);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) args.set(key.slice(2), 'true');
    else {
      args.set(key.slice(2), next);
      i++;
    }
  }
  return args;
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv);
  const outPath = args.get('out');
  if (outPath === undefined) {
    throw new Error(
      `usage: gen-whisper-model (--preset ${Object.keys(WHISPER_PRESETS).join('|')} [--type f16|f32] | --vad [--detector random|speech-band]) --out PATH [--seed N]`,
    );
  }
  const seed = Number(args.get('seed') ?? '1');
  const started = performance.now();
  let result: GeneratedModel;
  if (args.has('vad')) {
    const detector = (args.get('detector') ?? 'random') as VadDetector;
    result = await generateSileroVadModel({ outPath, seed, detector });
  } else {
    const preset = (args.get('preset') ?? 'test') as WhisperPreset;
    const weightType = (args.get('type') ?? 'f16') as WeightType;
    if (weightType !== 'f16' && weightType !== 'f32')
      throw new Error(`--type must be f16 or f32, not '${weightType}'`);
    result = await generateWhisperModel({ preset, outPath, seed, weightType });
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  process.stdout.write(`wrote ${result.path} (${(result.bytes / 1e6).toFixed(1)} MB) in ${seconds}s\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
