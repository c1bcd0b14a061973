import { Buffer } from 'node:buffer';

/** mulberry32: a tiny seeded PRNG, so one seed replays the same requests. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }
  float(): number {
    return this.#next();
  }
  int(max: number): number {
    return Math.floor(this.#next() * max);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

export const CLASSES = [
  'random-bytes',
  'cut-audio',
  'crafted-wav',
  'playlist',
  'multipart',
  'speech-json',
  'asr-query',
  'odd-path',
] as const;
export type FuzzClass = (typeof CLASSES)[number];

/** One generated request; `raw` requests go byte for byte over a socket. */
export interface FuzzRequest {
  readonly index: number;
  readonly cls: FuzzClass;
  readonly service: 'asr' | 'tts';
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
  readonly raw?: Buffer;
  readonly abortAfterMs?: number;
  /** A playlist naming the secret file: any 2xx, or an answer that differs from its twin, leaks. */
  readonly probe?: { readonly shape: string; readonly targetExists: boolean };
  readonly label: string;
}

export interface FuzzContext {
  /** Valid files by extension (wav, mp3, ogg, flac, opus, m4a). */
  readonly audio: ReadonlyMap<string, Buffer>;
  readonly secretDir: string;
}

const UPLOAD_ROUTES = [
  ['/v1/audio/transcriptions', 'file'],
  ['/v1/audio/translations', 'file'],
  ['/asr', 'audio_file'],
  ['/detect-language', 'audio_file'],
] as const;

function multipartBody(boundary: string, parts: { name: string; filename?: string; data: Buffer }[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const filename = part.filename === undefined ? '' : `; filename="${part.filename}"`;
    chunks.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"${filename}\r\n`),
    );
    if (part.filename !== undefined) chunks.push(Buffer.from('Content-Type: application/octet-stream\r\n'));
    chunks.push(Buffer.from('\r\n'), part.data, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

function upload(
  rng: Rng,
  data: Buffer,
  extra: { name: string; data: Buffer }[] = [],
  route = rng.pick(UPLOAD_ROUTES),
  query = '',
) {
  const boundary = `fuzz${rng.int(1e9)}`;
  const filename = `x.${rng.pick(['wav', 'mp3', 'm3u8', 'bin', 'ogg', 'txt', 'flac', ''])}`;
  const body = multipartBody(boundary, [...extra, { name: route[1], filename, data }]);
  return {
    service: 'asr' as const,
    method: 'POST',
    path: route[0] + query,
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body,
  };
}

const MAGIC = [
  '',
  'RIFF',
  'ID3\x03\x00\x00\x00\x00\x00\x00',
  'OggS',
  'fLaC',
  '\x00\x00\x00\x20ftypM4A ',
  '#EXTM3U\n',
];

function randomBytes(rng: Rng): Omit<FuzzRequest, 'index' | 'cls'> {
  const size = rng.pick([0, 1, 8, 44, 100, 1000, 4096, 20000]);
  const data = Buffer.concat([Buffer.from(rng.pick(MAGIC), 'latin1'), rng.bytes(size)]);
  return { ...upload(rng, data), label: `${data.length} random bytes` };
}

function cutAudio(rng: Rng, ctx: FuzzContext): Omit<FuzzRequest, 'index' | 'cls'> {
  const ext = rng.pick([...ctx.audio.keys()]);
  const valid = ctx.audio.get(ext) as Buffer;
  const how = rng.pick(['truncate', 'flip', 'behead', 'header-only']);
  let data = Buffer.from(valid);
  if (how === 'truncate') data = data.subarray(0, rng.int(data.length));
  if (how === 'behead') data = data.subarray(rng.int(data.length));
  if (how === 'header-only') data = data.subarray(0, 16 + rng.int(512));
  if (how === 'flip') for (let i = 0; i < 1 + rng.int(40); i++) data[rng.int(data.length)] = rng.int(256);
  return { ...upload(rng, data), label: `${ext} ${how} to ${data.length} bytes` };
}

const RATES = [0, 1, 7, 8000, 16000, 44100, 96000, 384000, 50_000_017, 4_294_967_295];

function craftedWav(rng: Rng): Omit<FuzzRequest, 'index' | 'cls'> {
  const rate = rng.pick(RATES);
  const channels = rng.pick([0, 1, 2, 255, 65535]);
  const bits = rng.pick([0, 1, 8, 12, 16, 24, 32, 64, 65535]);
  const format = rng.pick([1, 3, 0xfffe, 0, 85]);
  // Low rates turn few bytes into long audio: keep the payload small so one request stays cheap.
  const dataBytes = rate < 100 ? rng.pick([0, 2, 64, 200]) : rng.pick([0, 1, 64, 2000, 8000]);
  const declared = rng.pick([dataBytes, 0, 0xffffffff, dataBytes * 7 + 3]);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(rng.pick([36 + dataBytes, 0, 0xffffffff]), 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(format, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rng.pick([0, ((rate * channels * bits) / 8) >>> 0]), 28);
  header.writeUInt16LE(rng.pick([0, ((channels * bits) / 8) >>> 0]) & 0xffff, 32);
  header.writeUInt16LE(bits, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(declared >>> 0, 40);
  const data = Buffer.concat([header, rng.bytes(dataBytes)]);
  return {
    ...upload(rng, data),
    label: `WAV ${rate} Hz ${channels} ch ${bits} bit fmt ${format}, ${dataBytes} data bytes declared ${declared}`,
  };
}

const ID3 = Buffer.from('ID3\x03\x00\x00\x00\x00\x00\x00', 'latin1');

function playlist(rng: Rng, ctx: FuzzContext): Omit<FuzzRequest, 'index' | 'cls'> {
  const targetExists = rng.float() < 0.5;
  const ext = rng.pick(['wav', 'mp3', 'flac']);
  const name = targetExists ? `secret.${ext}` : `missing.${ext}`;
  const abs = `${ctx.secretDir}/${name}`;
  const depth = 1 + rng.int(6);
  const ref = rng.pick(['abs', 'file:', 'rel', 'concat:', 'subfile:']);
  const target =
    ref === 'abs'
      ? abs
      : ref === 'file:'
        ? `file:${abs}`
        : ref === 'rel'
          ? `${'../'.repeat(depth)}secret/${name}`
          : ref === 'concat:'
            ? `concat:${abs}|${abs}`
            : `subfile,,start,0,end,0,,:${abs}`;
  const disguise = rng.pick(['m3u', 'id3+m3u', 'bom+m3u', 'ffconcat', 'm3u-hls', 'plain-url']);
  const text =
    disguise === 'ffconcat'
      ? `ffconcat version 1.0\nfile '${target}'\n`
      : disguise === 'm3u-hls'
        ? `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n${target}\n#EXT-X-ENDLIST\n`
        : disguise === 'plain-url'
          ? `${target}\n`
          : `#EXTM3U\n#EXTINF:-1,x\n${target}\n`;
  let data = Buffer.from(text);
  if (disguise === 'id3+m3u') data = Buffer.concat([ID3, data]);
  if (disguise === 'bom+m3u') data = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), data]);
  const route = rng.pick(UPLOAD_ROUTES);
  const query = route[0] === '/asr' ? '?output=json' : '';
  const extra = route[1] === 'file' ? [{ name: 'response_format', data: Buffer.from('verbose_json') }] : [];
  const shape = `${disguise} ${ref} depth${ref === 'rel' ? depth : 0} .${ext} ${route[0]}`;
  return {
    ...upload(rng, data, extra, route, query),
    probe: { shape, targetExists },
    label: `playlist ${shape} → ${targetExists ? 'existing' : 'missing'} file`,
  };
}

function multipart(rng: Rng, ctx: FuzzContext): Omit<FuzzRequest, 'index' | 'cls'> {
  const route = rng.pick(UPLOAD_ROUTES);
  const wav = (ctx.audio.get('wav') as Buffer).subarray(0, 4000);
  const kind = rng.pick([
    'no-boundary',
    'wrong-boundary',
    'long-boundary',
    'no-closing',
    'lf-only',
    'dup-file',
    'many-fields',
    'no-file',
    'bad-disposition',
  ]);
  let boundary = 'b0undary';
  let contentType = `multipart/form-data; boundary=${boundary}`;
  let body = multipartBody(boundary, [{ name: route[1], filename: 'a.wav', data: wav }]);
  if (kind === 'no-boundary') contentType = 'multipart/form-data';
  if (kind === 'wrong-boundary') contentType = 'multipart/form-data; boundary=other';
  if (kind === 'long-boundary') {
    boundary = 'x'.repeat(256 + rng.int(2000));
    contentType = `multipart/form-data; boundary=${boundary}`;
    body = multipartBody(boundary, [{ name: route[1], filename: 'a.wav', data: wav }]);
  }
  if (kind === 'no-closing') body = body.subarray(0, body.length - `--${boundary}--\r\n`.length);
  if (kind === 'lf-only') body = Buffer.from(body.toString('latin1').replaceAll('\r\n', '\n'), 'latin1');
  if (kind === 'dup-file') {
    const part = { name: route[1], filename: 'a.wav', data: wav };
    body = multipartBody(boundary, [part, part]);
  }
  if (kind === 'many-fields') {
    const count = rng.pick([100, 1000, 5000]);
    const fields = Array.from({ length: count }, (_, i) => ({ name: `f${i}`, data: Buffer.from('1') }));
    body = multipartBody(boundary, [...fields, { name: route[1], filename: 'a.wav', data: wav }]);
  }
  if (kind === 'no-file') body = multipartBody(boundary, [{ name: route[1], data: Buffer.from('text') }]);
  if (kind === 'bad-disposition')
    body = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--${boundary}--\r\n`);
  return {
    service: 'asr',
    method: 'POST',
    path: route[0],
    headers: { 'content-type': contentType },
    body,
    label: `multipart ${kind} ${route[0]}`,
  };
}

const ODD_NUMBERS: readonly unknown[] = [
  'Infinity',
  '-Infinity',
  '1e400',
  'NaN',
  -0,
  0,
  0.2499,
  4.0001,
  1,
  1e308,
  -1,
  '1',
  '',
  null,
  true,
  [],
  {},
  'abc',
];
const RAW_NUMBERS = ['1e400', '-1e400', '-0', '1e-400', '0.0000001', '99999999999999999999999'];

function speechJson(rng: Rng): Omit<FuzzRequest, 'index' | 'cls'> {
  const body: Record<string, unknown> = {
    input: rng.pick([
      'Hi',
      'Hello there.',
      ' ',
      '',
      '\u0000\ud800',
      '<speak>x</speak>',
      '[[h@l]]',
      12,
      null,
      ['a'],
      'ア'.repeat(rng.pick([10, 3000])),
      'x'.repeat(5000),
    ]),
  };
  if (rng.float() < 0.6) body.speed = rng.pick(ODD_NUMBERS);
  if (rng.float() < 0.7)
    body.response_format = rng.pick(['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm', 'ogg', '', 5]);
  if (rng.float() < 0.4) body.stream_format = rng.pick(['audio', 'sse', 'bogus', null]);
  if (rng.float() < 0.4)
    body.voice = rng.pick(['alloy', 'nope', '../../etc/passwd', 'x'.repeat(200), { id: 'en' }, 7, null]);
  if (rng.float() < 0.2) body.model = rng.pick(['tts-1', 'nope', 5, 'x'.repeat(300)]);
  let text = JSON.stringify(body);
  const shape = rng.pick(['json', 'json', 'json', 'raw-number', 'deep', 'truncated', 'bom', 'text-plain']);
  if (shape === 'raw-number') text = text.replace(/^\{/, `{"speed":${rng.pick(RAW_NUMBERS)},`);
  if (shape === 'deep') text = `{"input":"Hi","voice":${'['.repeat(rng.pick([100, 10000]))}`;
  if (shape === 'truncated') text = text.slice(0, rng.int(text.length));
  if (shape === 'bom') text = `\ufeff${text}`;
  const abortAfterMs = rng.float() < 0.15 ? rng.int(400) : undefined;
  return {
    service: 'tts',
    method: 'POST',
    path: '/v1/audio/speech',
    headers: { 'content-type': shape === 'text-plain' ? 'text/plain' : 'application/json' },
    body: Buffer.from(text),
    ...(abortAfterMs === undefined ? {} : { abortAfterMs }),
    label: `speech ${shape} ${text.slice(0, 120)}${abortAfterMs === undefined ? '' : ` (abort after ${abortAfterMs} ms)`}`,
  };
}

function asrQuery(rng: Rng, ctx: FuzzContext): Omit<FuzzRequest, 'index' | 'cls'> {
  const wav = (ctx.audio.get('wav') as Buffer).subarray(0, 16000);
  const route = rng.pick(UPLOAD_ROUTES);
  if (route[1] === 'file') {
    const fields = [
      { name: 'temperature', data: Buffer.from(String(rng.pick(ODD_NUMBERS))) },
      {
        name: 'response_format',
        data: Buffer.from(rng.pick(['json', 'text', 'srt', 'vtt', 'verbose_json', 'xml'])),
      },
      { name: 'language', data: Buffer.from(rng.pick(['en', 'zz', 'auto', '', 'x'.repeat(40)])) },
    ].filter(() => rng.float() < 0.7);
    return {
      ...upload(rng, wav, fields, route),
      label: `${route[0]} fields ${fields.map((f) => `${f.name}=${f.data}`).join('&')}`,
    };
  }
  const params = [
    `task=${rng.pick(['transcribe', 'translate', 'x'])}`,
    `language=${rng.pick(['en', 'zz', 'auto', '', '%ZZ', 'x'.repeat(40)])}`,
    `output=${rng.pick(['txt', 'vtt', 'srt', 'tsv', 'json', 'jsonl', 'xml'])}`,
    `encode=${rng.pick(['true', 'false', 'maybe'])}`,
    `word_timestamps=${rng.pick(['true', 'false', '2'])}`,
    `vad_filter=${rng.pick(['true', 'false'])}`,
    `initial_prompt=${rng.pick(['hi', 'x'.repeat(5000)])}`,
    'task=a&task=b',
    '__proto__=x',
  ].filter(() => rng.float() < 0.4);
  const data =
    params.some((p) => p === 'encode=false') && rng.float() < 0.5 ? rng.bytes(rng.pick([1, 8, 33])) : wav;
  const query = `?${params.join('&')}`;
  return {
    ...upload(rng, data, [], route, query),
    label: `${route[0]}${query.slice(0, 160)} (${data.length} bytes)`,
  };
}

function rawRequest(method: string, path: string, headers: string[], body = Buffer.alloc(0)): Buffer {
  return Buffer.concat([
    Buffer.from(
      `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`,
      'latin1',
    ),
    body,
  ]);
}

function oddPath(rng: Rng): Omit<FuzzRequest, 'index' | 'cls'> {
  const path = rng.pick([
    `/v1/models/${'a'.repeat(rng.pick([200, 2000, 9000]))}`,
    '/v1/models/..%2F..%2Fetc%2Fpasswd',
    '/../../../etc/passwd',
    '/docs/static/../../../../package.json',
    '/docs/static/..%2f..%2f..%2fpackage.json',
    '/v1/models/%00',
    '/v1/audio/voices/../../etc/passwd',
    `/v1/audio/speech?${'q=1&'.repeat(2000)}`,
    '/health/..%2f..%2fmetrics',
    '//etc/passwd',
    '/%2e%2e/%2e%2e/etc/passwd',
  ]);
  const service = rng.pick(['asr', 'tts'] as const);
  const method = rng.pick(['GET', 'GET', 'POST', 'DELETE']);
  return {
    service,
    method,
    path,
    headers: {},
    raw: rawRequest(method, path, method === 'POST' ? ['Content-Length: 0'] : []),
    label: `${method} ${path.slice(0, 80)} (${path.length} chars)`,
  };
}

/** The request at `index` depends only on the seed and the index, so `--only` rebuilds it alone. */
export function generateRequest(seed: number, index: number, ctx: FuzzContext): FuzzRequest {
  const rng = new Rng((seed * 0x9e3779b1 + index * 0x85ebca6b) >>> 0);
  const cls = CLASSES[index % CLASSES.length] as FuzzClass;
  const make: Record<FuzzClass, () => Omit<FuzzRequest, 'index' | 'cls'>> = {
    'random-bytes': () => randomBytes(rng),
    'cut-audio': () => cutAudio(rng, ctx),
    'crafted-wav': () => craftedWav(rng),
    playlist: () => playlist(rng, ctx),
    multipart: () => multipart(rng, ctx),
    'speech-json': () => speechJson(rng),
    'asr-query': () => asrQuery(rng, ctx),
    'odd-path': () => oddPath(rng),
  };
  return { index, cls, ...make[cls]() };
}
