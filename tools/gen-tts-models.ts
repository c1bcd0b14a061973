/**
 * Writes Piper voices and a Kokoro model with random weights, with exactly the
 * inputs, outputs and side files of the real ones, so the real runtime
 * (onnxruntime-node) and the real engine code load and run them where no trained
 * weights can be downloaded.
 *
 * Piper (piper_train/export_onnx.py, opset 15): inputs `input` int64
 * [batch_size, phonemes], `input_lengths` int64 [batch_size], `scales` float32 [3]
 * (noise_scale, length_scale, noise_w); output `output` float32 [batch, 1, 1, time];
 * beside it `<voice>.onnx.json` with audio.sample_rate, espeak.voice, inference and
 * phoneme_id_map. Kokoro v1.0 (onnx-community export): inputs `input_ids` int64
 * [batch_size, sequence_length], `style` float32 [batch_size, 256], `speed` float32 [1];
 * output `waveform`; voices as raw float32 [510, 1, 256] files.
 *
 * The graphs are not speech models: an embedding, a stack of tanh layers and a
 * resize whose output length is (ids × samples per id × length_scale), or ÷ speed,
 * so longer text gives longer audio and speed changes the length like the real ones.
 *
 *   node dist/tools/gen-tts-models.js --piper --out DIR [--name en_US-test-medium] [--preset bench]
 *   node dist/tools/gen-tts-models.js --kokoro --out DIR [--preset bench]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  DataType,
  encodeModel,
  floatTensor,
  int64Tensor,
  type Model,
  type Node,
  randomFloats,
  seededRandom,
  type Tensor,
} from './onnx-writer.js';

/** `test`: small and fast; `bench`: about the size and per-second cost of a real medium voice. */
export type TtsModelPreset = 'test' | 'bench';

const PRESETS: Record<TtsModelPreset, { width: number; layers: number }> = {
  test: { width: 256, layers: 2 },
  bench: { width: 1024, layers: 12 },
};

/** Samples the model makes per input id at length_scale 1 (≈ 45 ms at 22.05 kHz, as Piper voices do). */
const PIPER_SAMPLES_PER_ID = 1024;
/** Kokoro tokens are phonemes without padding between them: ≈ 70 ms each at 24 kHz. */
const KOKORO_SAMPLES_PER_TOKEN = 1600;
const FRAME = 256;
const PIPER_OPSET = 15;
const KOKORO_OPSET = 17;
export const KOKORO_STYLE_DIM = 256;
export const KOKORO_VOICE_ROWS = 510;

/**
 * Piper's symbol table (piper-phonemize's default espeak map, ids 0–…): the pad,
 * BOS, EOS and space first, punctuation, the ASCII letters Piper keeps, then IPA.
 */
const PIPER_SYMBOLS = [
  '_',
  '^',
  '$',
  ' ',
  ..."!'(),-.:;?",
  ...'abcdefhijklmnopqrstuvwxyz',
  ...'æçðøħŋœǀǁǂǃɐɑɒɓɔɕɖɗɘəɚɛɜɞɟɠɡɢɣɤɥɦɧɨɪɫɬɭɮɯɰɱɲɳɴɵɶɸɹɺɻɽɾʀʁʂʃʄʈʉʊʋʌʍʎʏʐʑʒʔʕʘʙʛʜʝʟʡʢʲˈˌːˑ˞βθχᵻⱱ',
  ...'0123456789',
  '\u0327',
  '\u0303',
  '\u032a',
  '\u032f',
  '\u0329',
  'ʰ',
  'ˤ',
  'ε',
  '↓',
  '#',
  '"',
  '↑',
  '\u033a',
  '\u033b',
];

export function piperPhonemeIdMap(): Record<string, number[]> {
  return Object.fromEntries(PIPER_SYMBOLS.map((symbol, id) => [symbol, [id]]));
}

function scalar(name: string, type: 'float' | 'int64', value: number): Tensor {
  return type === 'float' ? floatTensor(name, [], [value]) : int64Tensor(name, [], [value]);
}

/** tanh(x · W) layers over [1, T, width], then a frame of samples per id. */
function hiddenLayers(
  input: string,
  width: number,
  layers: number,
  random: () => number,
): { nodes: Node[]; initializers: Tensor[]; output: string } {
  const nodes: Node[] = [];
  const initializers: Tensor[] = [];
  let current = input;
  for (let i = 0; i < layers; i++) {
    const weight = floatTensor(
      `layer${i}.weight`,
      [width, width],
      randomFloats(width * width, 1.5 / Math.sqrt(width), random),
    );
    initializers.push(weight);
    nodes.push({ op: 'MatMul', inputs: [current, weight.name], outputs: [`layer${i}.mm`] });
    nodes.push({ op: 'Tanh', inputs: [`layer${i}.mm`], outputs: [`layer${i}.out`] });
    current = `layer${i}.out`;
  }
  const toFrame = floatTensor(
    'frame.weight',
    [width, FRAME],
    randomFloats(width * FRAME, 2 / Math.sqrt(width), random),
  );
  initializers.push(toFrame, int64Tensor('frame.shape', [4], [1, 1, 1, -1]), scalar('half', 'float', 0.5));
  nodes.push(
    { op: 'MatMul', inputs: [current, toFrame.name], outputs: ['frame.mm'] },
    { op: 'Tanh', inputs: ['frame.mm'], outputs: ['frame.tanh'] },
    { op: 'Mul', inputs: ['frame.tanh', 'half'], outputs: ['frame.scaled'] },
    { op: 'Reshape', inputs: ['frame.scaled', 'frame.shape'], outputs: ['frames'] },
  );
  return { nodes, initializers, output: 'frames' };
}

/**
 * Resizes [1,1,1,T·FRAME] frames to [1,1,1,⌊T · perId · factor⌋] samples, where
 * `factor` is a float scalar computed in the graph (length_scale, or 1/speed).
 */
function resizeToLength(ids: string, frames: string, perId: number, factor: string, output: string) {
  const nodes: Node[] = [
    { op: 'Shape', inputs: [ids], outputs: ['ids.shape'] },
    { op: 'Gather', inputs: ['ids.shape', 'one_i'], outputs: ['ids.count'], attributes: { axis: { i: 0 } } },
    {
      op: 'Cast',
      inputs: ['ids.count'],
      outputs: ['ids.count_f'],
      attributes: { to: { i: DataType.FLOAT } },
    },
    { op: 'Mul', inputs: ['ids.count_f', 'per_id'], outputs: ['samples.base'] },
    { op: 'Mul', inputs: ['samples.base', factor], outputs: ['samples.f'] },
    { op: 'Floor', inputs: ['samples.f'], outputs: ['samples.floor'] },
    {
      op: 'Cast',
      inputs: ['samples.floor'],
      outputs: ['samples.n'],
      attributes: { to: { i: DataType.INT64 } },
    },
    { op: 'Reshape', inputs: ['samples.n', 'one_dim'], outputs: ['samples.vec'] },
    { op: 'Concat', inputs: ['ones3', 'samples.vec'], outputs: ['sizes'], attributes: { axis: { i: 0 } } },
    {
      op: 'Resize',
      inputs: [frames, '', '', 'sizes'],
      outputs: [output],
      attributes: { mode: { s: 'linear' } },
    },
  ];
  const initializers = [
    scalar('one_i', 'int64', 1),
    scalar('per_id', 'float', perId),
    int64Tensor('one_dim', [1], [1]),
    int64Tensor('ones3', [3], [1, 1, 1]),
  ];
  return { nodes, initializers };
}

export function piperModel(options: { preset?: TtsModelPreset; seed?: number } = {}): Model {
  const { width, layers } = PRESETS[options.preset ?? 'test'];
  const random = seededRandom(options.seed ?? 1);
  const vocab = PIPER_SYMBOLS.length;
  const embedding = floatTensor('emb.weight', [vocab, width], randomFloats(vocab * width, 1, random));
  const hidden = hiddenLayers('emb', width, layers, random);
  const resize = resizeToLength('input', hidden.output, PIPER_SAMPLES_PER_ID, 'length_scale', 'output');
  return {
    graphName: 'main_graph',
    opset: PIPER_OPSET,
    producer: 'pytorch',
    inputs: [
      { name: 'input', type: DataType.INT64, shape: ['batch_size', 'phonemes'] },
      { name: 'input_lengths', type: DataType.INT64, shape: ['batch_size'] },
      { name: 'scales', type: DataType.FLOAT, shape: [3] },
    ],
    outputs: [{ name: 'output', type: DataType.FLOAT, shape: ['batch_size', 1, 1, 'time'] }],
    initializers: [embedding, ...hidden.initializers, ...resize.initializers],
    nodes: [
      { op: 'Gather', inputs: [embedding.name, 'input'], outputs: ['emb'], attributes: { axis: { i: 0 } } },
      ...hidden.nodes,
      {
        op: 'Gather',
        inputs: ['scales', 'one_i'],
        outputs: ['length_scale'],
        attributes: { axis: { i: 0 } },
      },
      ...resize.nodes,
    ],
  };
}

export function piperConfig(options: {
  voice: string;
  sampleRate: number;
  quality: string;
  language: string;
}) {
  const [family = 'en', region = 'US'] = options.language.split('_');
  return {
    audio: { sample_rate: options.sampleRate, quality: options.quality },
    espeak: { voice: options.voice },
    inference: { noise_scale: 0.667, length_scale: 1, noise_w: 0.8 },
    phoneme_type: 'espeak',
    phoneme_map: {},
    phoneme_id_map: piperPhonemeIdMap(),
    num_symbols: 256,
    num_speakers: 1,
    speaker_id_map: {},
    piper_version: '1.0.0',
    language: { code: options.language, family, region, name_native: 'test', name_english: 'test' },
    dataset: 'random-weights',
  };
}

export interface GeneratePiperVoiceOptions {
  readonly outDir: string;
  /** File stem, as Piper names voices: `en_US-test-medium`. */
  readonly name?: string;
  readonly preset?: TtsModelPreset;
  readonly seed?: number;
  readonly espeakVoice?: string;
  readonly sampleRate?: number;
}

/** Writes `<name>.onnx` and `<name>.onnx.json`; resolves with the model path. */
export async function generatePiperVoice(options: GeneratePiperVoiceOptions): Promise<string> {
  const name = options.name ?? 'en_US-test-medium';
  await mkdir(options.outDir, { recursive: true });
  const modelPath = join(options.outDir, `${name}.onnx`);
  await writeFile(modelPath, encodeModel(piperModel(options)));
  const language = name.split('-')[0] ?? 'en_US';
  const config = piperConfig({
    voice: options.espeakVoice ?? 'en-us',
    sampleRate: options.sampleRate ?? 22050,
    quality: name.split('-').pop() ?? 'medium',
    language,
  });
  await writeFile(`${modelPath}.json`, `${JSON.stringify(config, null, 2)}\n`);
  return modelPath;
}

export function kokoroModel(options: { preset?: TtsModelPreset; seed?: number } = {}): Model {
  const { width, layers } = PRESETS[options.preset ?? 'test'];
  const random = seededRandom(options.seed ?? 2);
  const vocab = 178;
  const embedding = floatTensor('emb.weight', [vocab, width], randomFloats(vocab * width, 1, random));
  const styleWeight = floatTensor(
    'style.weight',
    [KOKORO_STYLE_DIM, width],
    randomFloats(KOKORO_STYLE_DIM * width, 1 / 16, random),
  );
  const hidden = hiddenLayers('styled', width, layers, random);
  const resize = resizeToLength('input_ids', hidden.output, KOKORO_SAMPLES_PER_TOKEN, 'inv_speed', 'resized');
  return {
    graphName: 'main_graph',
    opset: KOKORO_OPSET,
    producer: 'pytorch',
    inputs: [
      { name: 'input_ids', type: DataType.INT64, shape: ['batch_size', 'sequence_length'] },
      { name: 'style', type: DataType.FLOAT, shape: ['batch_size', KOKORO_STYLE_DIM] },
      { name: 'speed', type: DataType.FLOAT, shape: [1] },
    ],
    outputs: [{ name: 'waveform', type: DataType.FLOAT, shape: ['batch_size', 'num_samples'] }],
    initializers: [
      embedding,
      styleWeight,
      ...hidden.initializers,
      ...resize.initializers,
      scalar('one_f', 'float', 1),
      int64Tensor('style.shape', [3], [1, 1, width]),
      int64Tensor('wave.shape', [2], [1, -1]),
      int64Tensor('scalar_shape', [0], []),
    ],
    nodes: [
      {
        op: 'Gather',
        inputs: [embedding.name, 'input_ids'],
        outputs: ['emb'],
        attributes: { axis: { i: 0 } },
      },
      { op: 'MatMul', inputs: ['style', styleWeight.name], outputs: ['style.proj'] },
      { op: 'Reshape', inputs: ['style.proj', 'style.shape'], outputs: ['style.bcast'] },
      { op: 'Add', inputs: ['emb', 'style.bcast'], outputs: ['styled'] },
      ...hidden.nodes,
      { op: 'Reshape', inputs: ['speed', 'scalar_shape'], outputs: ['speed.scalar'] },
      { op: 'Div', inputs: ['one_f', 'speed.scalar'], outputs: ['inv_speed'] },
      ...resize.nodes,
      { op: 'Reshape', inputs: ['resized', 'wave.shape'], outputs: ['waveform'] },
    ],
  };
}

export interface GenerateKokoroOptions {
  readonly outDir: string;
  readonly preset?: TtsModelPreset;
  readonly seed?: number;
  /** Voice ids to write as `<id>.bin`. */
  readonly voices?: readonly string[];
  /** The model's file name; the catalog's cache name by default. */
  readonly modelFileName?: string;
  /** Prefix of each voice file name (the catalog's cache names: `kokoro-v1.0-<id>.bin`). */
  readonly voicePrefix?: string;
}

/** Writes the model and one style file per voice; resolves with the model path. */
export async function generateKokoroModel(options: GenerateKokoroOptions): Promise<string> {
  await mkdir(options.outDir, { recursive: true });
  const modelPath = join(options.outDir, options.modelFileName ?? 'kokoro-v1.0.onnx');
  await writeFile(modelPath, encodeModel(kokoroModel(options)));
  const random = seededRandom((options.seed ?? 2) + 100);
  for (const voice of options.voices ?? ['af_heart', 'am_adam']) {
    const style = randomFloats(KOKORO_VOICE_ROWS * KOKORO_STYLE_DIM, 0.5, random);
    await writeFile(join(options.outDir, `${options.voicePrefix ?? 'kokoro-v1.0-'}${voice}.bin`), style);
  }
  return modelPath;
}

async function main(argv: string[]): Promise<void> {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const outDir = value('--out');
  if (!outDir) throw new Error('usage: gen-tts-models (--piper | --kokoro) --out DIR [--preset test|bench]');
  const preset = (value('--preset') ?? 'test') as TtsModelPreset;
  if (argv.includes('--kokoro')) {
    console.log(await generateKokoroModel({ outDir, preset }));
  } else {
    console.log(await generatePiperVoice({ outDir, preset, name: value('--name') ?? 'en_US-test-medium' }));
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
