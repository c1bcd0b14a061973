/**
 * The seeded cases of the protocol fuzz (run-protocol-fuzz.ts): broken Wyoming events
 * over TCP and broken Realtime client events over the WebSocket, each built from the
 * seed and its index alone, so `--only N` rebuilds one case without the others.
 *
 * A case says what the server owes it: `refuse` (a Wyoming `error` event with a code,
 * then the end of the connection), `answer` (the event named, or a capacity refusal),
 * `any` (well-formed events, codes on every error) or `cut` (the client goes away; only
 * the service's state is judged afterwards).
 */
import { Buffer } from 'node:buffer';
import { Rng } from './fuzz-cases.js';

export const PROTOCOL_CLASSES = [
  'wy-random-bytes',
  'wy-bad-header',
  'wy-lengths',
  'wy-unknown-event',
  'wy-audio-format',
  'wy-transcribe',
  'wy-synthesize',
  'wy-cut',
  'rt-junk-frame',
  'rt-unknown-event',
  'rt-append',
  'rt-update',
  'rt-commit-clear',
  'rt-cut',
  'rt-auth',
  'rt-upgrade',
  'rt-sessions',
] as const;
export type ProtocolClass = (typeof PROTOCOL_CLASSES)[number];

export type WyomingExpect = 'refuse' | 'answer' | 'any' | 'cut';

export interface WyomingCase {
  readonly kind: 'wyoming';
  readonly service: 'asr' | 'tts';
  /** Written in order, one write each (so the server sees them split across reads). */
  readonly writes: readonly Buffer[];
  /** After the writes: half-close and read to the end, or go away after `cutAfterMs`. */
  readonly end: 'half-close' | 'destroy' | 'reset';
  readonly cutAfterMs?: number;
  readonly expect: WyomingExpect;
  /** For `answer`: the event type that must arrive, and how many times (1 unless told). */
  readonly answer?: string;
  readonly answers?: number;
  /** For `refuse`: the code the error should carry (a capacity refusal is also accepted). */
  readonly code?: string;
}

/** One client action on a Realtime session. */
export type RealtimeStep =
  | { readonly op: 'text'; readonly data: string; readonly refuse?: boolean; readonly maybe?: boolean }
  | { readonly op: 'binary'; readonly data: Buffer }
  | { readonly op: 'wait'; readonly ms: number };

export interface RealtimeCase {
  readonly kind: 'realtime';
  /** `keyed`: the second service, started with API_KEY. */
  readonly target: 'open' | 'keyed';
  readonly query: string;
  readonly protocols: readonly string[];
  readonly headers: Readonly<Record<string, string>>;
  /** `session`: the upgrade must succeed (or be refused for capacity); a number: the HTTP status due. */
  readonly upgrade: 'session' | readonly number[];
  readonly steps: readonly RealtimeStep[];
  /**
   * `sentinel`: a final unknown event whose `error` marks that every earlier event was
   * answered, then a normal close; `terminate`: the socket is cut after `cutAfterMs`;
   * `close-code`: the server must close with one of `closeCodes` (a message over the size limit).
   */
  readonly finish: 'sentinel' | 'terminate' | 'close-code';
  readonly cutAfterMs?: number;
  readonly closeCodes?: readonly number[];
}

/** A hand-written upgrade request over a raw socket: it must get a 4xx, never a 5xx or a 101. */
export interface UpgradeCase {
  readonly kind: 'upgrade';
  readonly target: 'open' | 'keyed';
  readonly raw: string;
}

/** More sessions at once than MAX_REALTIME_SESSIONS allows. */
export interface SessionFloodCase {
  readonly kind: 'flood';
  readonly sessions: number;
}

export type ProtocolCase = (WyomingCase | RealtimeCase | UpgradeCase | SessionFloodCase) & {
  readonly index: number;
  readonly cls: ProtocolClass;
  readonly label: string;
};

export interface ProtocolContext {
  /** Speech as s16le mono at 16 kHz (Wyoming) and 24 kHz (Realtime pcm16). */
  readonly speech16k: Buffer;
  readonly speech24k: Buffer;
  readonly apiKey: string;
  readonly maxRealtimeSessions: number;
}

type Body<T> = Omit<T, 'index' | 'cls'> & { readonly label: string };
type WyBody = Body<WyomingCase>;
type RtBody = Body<RealtimeCase>;

// ---------------------------------------------------------------- Wyoming framing

function header(fields: Record<string, unknown>): Buffer {
  return Buffer.from(`${JSON.stringify(fields)}\n`);
}

/** An event as the protocol frames it: data inline or after the header, payload after both. */
function event(rng: Rng, type: string, data?: Record<string, unknown>, payload?: Buffer): Buffer {
  const fields: Record<string, unknown> = { type };
  let extra = Buffer.alloc(0);
  // Data of over 32 KiB always goes after the header: inline it would pass the header bound.
  const text = data === undefined ? '' : JSON.stringify(data);
  if (data !== undefined && (rng.int(2) === 0 || text.length > 32 * 1024)) {
    extra = Buffer.from(text);
    fields.data_length = extra.length;
  } else if (data !== undefined) {
    fields.data = data;
  }
  if (payload !== undefined && payload.length > 0) fields.payload_length = payload.length;
  return Buffer.concat([header(fields), extra, payload ?? Buffer.alloc(0)]);
}

const MONO_16K = { rate: 16000, width: 2, channels: 1 };

/** A slice of the speech (whole samples), `ms` long. */
function speechSlice(rng: Rng, pcm: Buffer, ms: number, rate: number): Buffer {
  const bytes = Math.min(pcm.length, Math.round((ms * rate) / 1000) * 2);
  const start = rng.int(Math.max(1, (pcm.length - bytes) / 2)) * 2;
  return pcm.subarray(start, start + bytes);
}

/** audio-start, the audio in chunks of 20–200 ms, audio-stop. */
function audioEvents(rng: Rng, pcm: Buffer, format = MONO_16K, withStart = true): Buffer[] {
  const out: Buffer[] = [];
  if (withStart) out.push(event(rng, 'audio-start', format));
  const frame = format.width * format.channels;
  const chunk = Math.max(frame, Math.floor((format.rate * (20 + rng.int(180))) / 1000) * frame);
  for (let offset = 0; offset < pcm.length; offset += chunk) {
    out.push(event(rng, 'audio-chunk', format, pcm.subarray(offset, offset + chunk)));
  }
  out.push(event(rng, 'audio-stop'));
  return out;
}

const NUMBER_JUNK: readonly unknown[] = [
  0,
  -1,
  -16000,
  1.5,
  Number.MAX_SAFE_INTEGER,
  1e308,
  '16000',
  null,
  true,
  [],
  {},
  [16000],
  { rate: 16000 },
];

/** Strings, numbers, nesting: the junk that lands where a field is expected. */
function junkValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 2 ? 5 : 8)) {
    case 0:
      return rng.pick(NUMBER_JUNK);
    case 1:
      return 'x'.repeat(rng.int(4) === 0 ? 70_000 : rng.int(40));
    case 2:
      return rng.pick(['', ' ', '\u0000', '💥', '../../etc/passwd', '%s%n', '\r\n\r\n', '{"type":"x"}']);
    case 3:
      return null;
    case 4:
      return rng.float() * 1e6 - 5e5;
    case 5:
      return Array.from({ length: rng.int(4) }, () => junkValue(rng, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: 1 + rng.int(3) }, (_, i) => [
          rng.pick(['name', 'text', 'language', 'rate', `k${i}`, '__proto__']),
          junkValue(rng, depth + 1),
        ]),
      );
  }
}

function serviceOf(rng: Rng): 'asr' | 'tts' {
  return rng.int(2) === 0 ? 'asr' : 'tts';
}

function wyRandomBytes(rng: Rng): WyBody {
  // A first byte that is not whitespace, and a newline at the end: the line must be judged.
  const bytes = Buffer.concat([
    Buffer.from([0x21 + rng.int(90)]),
    rng.bytes(rng.int(2000)),
    Buffer.from('\n'),
  ]);
  const service = serviceOf(rng);
  return {
    kind: 'wyoming',
    service,
    writes: [bytes],
    end: 'half-close',
    expect: 'refuse',
    code: 'VS_ERR_PROTOCOL',
    label: `${service} ${bytes.length} random bytes`,
  };
}

function wyBadHeader(rng: Rng): WyBody {
  const service = serviceOf(rng);
  const variants: [string, Buffer, WyomingExpect][] = [
    [
      'not json',
      Buffer.from(`${rng.pick(['type: ping', '{type:"ping"}', "{'type':'ping'}", '{"type":"ping"'])}\n`),
      'refuse',
    ],
    ['json array', Buffer.from('["ping"]\n'), 'refuse'],
    ['json scalar', Buffer.from(`${rng.pick(['1', '"ping"', 'null', 'true'])}\n`), 'refuse'],
    ['missing type', header({ data: { text: 'hi' } }), 'refuse'],
    ['type not a string', header({ type: rng.pick([7, null, true, [], {}, ['ping']]) }), 'refuse'],
    ['empty type', header({ type: '' }), 'refuse'],
    ['type over 128 chars', header({ type: 'p'.repeat(129 + rng.int(1000)) }), 'refuse'],
    ['data not an object', header({ type: 'ping', data: rng.pick([1, 'x', [1, 2], true]) }), 'refuse'],
    ['header over 64 KiB, no newline', Buffer.alloc(65 * 1024 + rng.int(100_000), 0x61), 'refuse'],
    // Refused however the reads split it (one read of the whole line included).
    [
      'header over 64 KiB, with newline',
      header({ type: 'ping', data: { text: 'y'.repeat(66_000 + rng.int(50_000)) } }),
      'refuse',
    ],
    [
      'invalid utf-8 in the type',
      Buffer.concat([Buffer.from('{"type":"p'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('ing"}\n')]),
      'any',
    ],
    ['nul bytes', Buffer.from('{"type":"ping"\u0000}\n'), 'refuse'],
  ];
  const [label, bytes, expect] = rng.pick(variants);
  // Split the bytes across writes sometimes, so the parser sees partial lines.
  const split = rng.int(3) === 0 && bytes.length > 2 ? 1 + rng.int(bytes.length - 1) : bytes.length;
  const writes = split < bytes.length ? [bytes.subarray(0, split), bytes.subarray(split)] : [bytes];
  return {
    kind: 'wyoming',
    service,
    writes,
    end: 'half-close',
    expect,
    ...(expect === 'refuse' ? { code: 'VS_ERR_PROTOCOL' } : {}),
    label: `${service} ${label}`,
  };
}

function wyLengths(rng: Rng): WyBody {
  const service = serviceOf(rng);
  const field = rng.pick(['data_length', 'payload_length'] as const);
  const data = Buffer.from(JSON.stringify({ text: 'hello', rate: 16000, width: 2, channels: 1 }));
  const type = service === 'asr' ? 'audio-chunk' : 'synthesize';
  const variant = rng.int(6);
  if (variant === 0) {
    // Declares more than is sent: the server can only wait, then close on the half-close.
    const declared = 10 + rng.int(60_000);
    const sent = rng.int(declared);
    return {
      kind: 'wyoming',
      service,
      writes: [header({ type, [field]: declared }), rng.bytes(sent)],
      end: 'half-close',
      expect: 'any',
      label: `${service} ${field} ${declared}, ${sent} sent`,
    };
  }
  if (variant === 1) {
    // data_length shorter than the data: the cut JSON is not an object.
    const short = 1 + rng.int(data.length - 1);
    return {
      kind: 'wyoming',
      service,
      writes: [header({ type, data_length: short }), data],
      end: 'half-close',
      expect: 'refuse',
      code: 'VS_ERR_PROTOCOL',
      label: `${service} data_length ${short} of ${data.length}`,
    };
  }
  if (variant === 2) {
    const junkData = rng.pick(['not json', '[1,2]', '"x"', '12', 'nul\u0000', '{"a":']);
    return {
      kind: 'wyoming',
      service,
      writes: [header({ type, data_length: Buffer.byteLength(junkData) }), Buffer.from(junkData)],
      end: 'half-close',
      expect: 'refuse',
      code: 'VS_ERR_PROTOCOL',
      label: `${service} data ${JSON.stringify(junkData)}`,
    };
  }
  const bad = rng.pick([
    -1,
    -1e9,
    1.5,
    0.1,
    'ten',
    '10',
    true,
    [],
    {},
    1e15,
    2 ** 53,
    5 * 1024 * 1024,
    1e300,
  ]);
  return {
    kind: 'wyoming',
    service,
    writes: [header({ type, [field]: bad }), rng.bytes(rng.int(64))],
    end: 'half-close',
    expect: 'refuse',
    code: 'VS_ERR_PROTOCOL',
    label: `${service} ${field} ${JSON.stringify(bad)}`,
  };
}

function wyUnknownEvent(rng: Rng): WyBody {
  const service = serviceOf(rng);
  const types = [
    'detect',
    'run-pipeline',
    'audio-start-x',
    'AUDIO-CHUNK',
    'x'.repeat(100),
    'tts',
    'info',
    'pong',
    '🎤',
  ];
  const writes: Buffer[] = [];
  for (let i = 1 + rng.int(4); i > 0; i--) {
    const payload = rng.int(3) === 0 ? rng.bytes(1 + rng.int(4096)) : undefined;
    writes.push(
      event(rng, rng.pick(types), rng.int(2) === 0 ? { junk: junkValue(rng) } : undefined, payload),
    );
  }
  // Ignored events leave the connection usable: a ping after them must be answered.
  writes.push(event(rng, 'ping', { text: 'after' }));
  return {
    kind: 'wyoming',
    service,
    writes,
    end: 'half-close',
    expect: 'answer',
    answer: 'pong',
    label: `${service} ${writes.length - 1} unknown events then ping`,
  };
}

function wyAudioFormat(rng: Rng, ctx: ProtocolContext): WyBody {
  const pcm = speechSlice(rng, ctx.speech16k, 100 + rng.int(400), 16000);
  const variant = rng.int(7);
  if (variant <= 2) {
    const field = rng.pick(['rate', 'width', 'channels'] as const);
    const junk: Record<typeof field, unknown[]> = {
      rate: [0, -1, -16000, 1.5, 999, 768_001, 1e9, 1e308, '16000', null, [16000], {}],
      width: [0, -2, 1.5, 5, 8, 64, '2', null, [2], true],
      channels: [0, -1, 1.5, 33, 1e6, '1', null, [1], {}],
    };
    const format = { ...MONO_16K, [field]: rng.pick(junk[field]) };
    const where = rng.pick(['audio-start', 'audio-chunk']);
    const writes =
      where === 'audio-start'
        ? [
            event(rng, 'audio-start', format),
            event(rng, 'audio-chunk', MONO_16K, pcm),
            event(rng, 'audio-stop'),
          ]
        : [
            event(rng, 'audio-start', MONO_16K),
            event(rng, 'audio-chunk', format, pcm),
            event(rng, 'audio-stop'),
          ];
    return {
      kind: 'wyoming',
      service: 'asr',
      writes,
      end: 'half-close',
      expect: 'refuse',
      code: 'VS_ERR_AUDIO_DECODE',
      label: `${field} ${JSON.stringify(format[field])} in ${where}`,
    };
  }
  if (variant === 3) {
    const width = rng.pick([2, 3, 4]);
    const channels = 1 + rng.int(3);
    const odd = Buffer.concat([
      pcm.subarray(0, Math.floor(pcm.length / (width * channels)) * width * channels),
      Buffer.from([1]),
    ]);
    const format = { rate: 16000, width, channels };
    return {
      kind: 'wyoming',
      service: 'asr',
      writes: [
        event(rng, 'audio-start', format),
        event(rng, 'audio-chunk', format, odd),
        event(rng, 'audio-stop'),
      ],
      end: 'half-close',
      expect: 'refuse',
      code: 'VS_ERR_AUDIO_DECODE',
      label: `${odd.length} bytes of ${width}×${channels} frames`,
    };
  }
  if (variant === 4) {
    return {
      kind: 'wyoming',
      service: 'asr',
      writes: [event(rng, 'audio-chunk', {}, pcm), event(rng, 'audio-stop')],
      end: 'half-close',
      expect: 'refuse',
      code: 'VS_ERR_AUDIO_DECODE',
      label: 'audio-chunk with no format before audio-start',
    };
  }
  if (variant === 5) {
    return {
      kind: 'wyoming',
      service: 'asr',
      writes: [event(rng, 'audio-stop')],
      end: 'half-close',
      expect: 'refuse',
      code: 'VS_ERR_PROTOCOL',
      label: 'audio-stop without audio-start',
    };
  }
  // Chunks that carry their own format without any audio-start: the reference servers accept it.
  const format = { rate: rng.pick([8000, 16000, 22050, 44100]), width: 2, channels: 1 };
  return {
    kind: 'wyoming',
    service: 'asr',
    writes: audioEvents(rng, pcm, format, false),
    end: 'half-close',
    expect: 'answer',
    answer: 'transcript',
    label: `audio-chunk at ${format.rate} Hz before audio-start`,
  };
}

function wyTranscribe(rng: Rng, ctx: ProtocolContext): WyBody {
  const pcm = speechSlice(rng, ctx.speech16k, 200 + rng.int(800), 16000);
  const variant = rng.int(6);
  if (variant === 4) {
    // Over MAX_UTTERANCE_SECONDS (300 s), cheaply: 8-bit audio at 1 kHz, 301–400 s of it.
    const format = { rate: 1000, width: 1, channels: 1 };
    const audio = Buffer.alloc(1000 * (301 + rng.int(100)), 128);
    return {
      kind: 'wyoming',
      service: 'asr',
      writes: audioEvents(rng, audio, format),
      end: 'half-close',
      expect: 'refuse',
      code: 'VS_ERR_AUDIO_DECODE',
      label: `${audio.length / 1000} s utterance at 1 kHz`,
    };
  }
  if (variant === 5) {
    // Utterances one after another on one connection: each gets its transcript.
    const writes: Buffer[] = [];
    const count = 2 + rng.int(2);
    for (let i = 0; i < count; i++)
      writes.push(
        event(rng, 'transcribe', {}),
        ...audioEvents(rng, speechSlice(rng, ctx.speech16k, 200, 16000)),
      );
    return {
      kind: 'wyoming',
      service: 'asr',
      writes,
      end: 'half-close',
      expect: 'answer',
      answer: 'transcript',
      answers: count,
      label: `${count} utterances on one connection`,
    };
  }
  if (variant === 0) {
    const language = rng.pick(['xx', 'klingon', 'en-ZZZZ-!!', '../en', 'e'.repeat(300)]);
    return {
      kind: 'wyoming',
      service: 'asr',
      writes: [event(rng, 'transcribe', { language }), ...audioEvents(rng, pcm)],
      end: 'half-close',
      expect: 'refuse',
      code: 'VS_ERR_INVALID_PARAMETER',
      label: `transcribe language ${language.slice(0, 20)}`,
    };
  }
  if (variant === 1) {
    // transcribe and audio-stop with nothing between: an empty transcript.
    return {
      kind: 'wyoming',
      service: 'asr',
      writes: [event(rng, 'transcribe', { language: 'en' }), event(rng, 'audio-stop')],
      end: 'half-close',
      expect: 'answer',
      answer: 'transcript',
      label: 'transcribe then audio-stop, no audio',
    };
  }
  // Junk in the fields that are not checked (a non-string language, nested objects) is ignored.
  const data: Record<string, unknown> = { name: junkValue(rng), context: junkValue(rng) };
  if (rng.int(2) === 0)
    data.language = rng.pick([7, null, ['en'], { code: 'en' }, true, 'auto', 'en', 'de-DE', 'en_US']);
  const format = rng.int(3) === 0 ? { rate: 48000, width: 4, channels: 2 } : MONO_16K;
  const audio = format === MONO_16K ? pcm : Buffer.alloc(Math.floor(pcm.length / 8) * 8 * 3);
  return {
    kind: 'wyoming',
    service: 'asr',
    writes: [event(rng, 'transcribe', data), ...audioEvents(rng, audio, format)],
    end: 'half-close',
    expect: 'answer',
    answer: 'transcript',
    label: `transcribe ${JSON.stringify(data).slice(0, 60)} at ${format.rate}/${format.width}/${format.channels}`,
  };
}

const SENTENCES = ['Hello there.', 'The fuzz says hi!', 'One, two, three?', 'Short.'];

function wySynthesize(rng: Rng): WyBody {
  const variant = rng.int(9);
  const tts = (
    writes: Buffer[],
    expect: WyomingExpect,
    label: string,
    extra: Partial<WyBody> = {},
  ): WyBody => ({
    kind: 'wyoming',
    service: 'tts',
    writes,
    end: 'half-close',
    expect,
    label,
    ...extra,
  });
  switch (variant) {
    case 0: {
      const text = rng.pick<unknown>([7, null, ['hi'], { text: 'hi' }, true, undefined]);
      return tts(
        [event(rng, 'synthesize', text === undefined ? {} : { text })],
        'refuse',
        `synthesize text ${JSON.stringify(text)}`,
        {
          code: 'VS_ERR_INVALID_PARAMETER',
        },
      );
    }
    case 1:
      return tts(
        [event(rng, 'synthesize', { text: 'a '.repeat(2100 + rng.int(4000)) })],
        'refuse',
        'synthesize text over MAX_TEXT_CHARS',
        {
          code: 'VS_ERR_INVALID_PARAMETER',
        },
      );
    case 2: {
      const name = rng.pick(['no-such-voice', '../../espeak-ng-data/voices/en', 'x'.repeat(500), '\u0000']);
      return tts(
        [event(rng, 'synthesize', { text: 'Hi.', voice: { name } })],
        'refuse',
        `unknown voice ${name.slice(0, 20)}`,
        {
          code: 'VS_ERR_INVALID_PARAMETER',
        },
      );
    }
    case 3:
      return tts(
        [event(rng, 'synthesize', { text: rng.pick(['', '   ', '\n\t']) })],
        'refuse',
        'synthesize empty text',
        {
          code: 'VS_ERR_INVALID_PARAMETER',
        },
      );
    case 4: {
      const type = rng.pick(['synthesize-chunk', 'synthesize-stop']);
      return tts([event(rng, type, { text: 'Hi.' })], 'refuse', `${type} outside a stream`, {
        code: 'VS_ERR_PROTOCOL',
      });
    }
    case 5:
      return tts(
        [event(rng, 'synthesize-start', {}), event(rng, 'synthesize-start', {})],
        'refuse',
        'synthesize-start twice',
        { code: 'VS_ERR_PROTOCOL' },
      );
    case 6: {
      // Nested junk where the voice goes: a voice that is not an object is the default voice.
      const voice = rng.pick<unknown>([
        7,
        'en',
        ['en'],
        null,
        { name: 7 },
        { name: null, speaker: [] },
        { junk: { deep: [1, { x: 2 }] } },
      ]);
      return tts(
        [event(rng, 'synthesize', { text: rng.pick(SENTENCES), voice, extra: junkValue(rng) })],
        'answer',
        `synthesize voice ${JSON.stringify(voice)}`,
        {
          answer: 'audio-stop',
        },
      );
    }
    case 7: {
      const language = rng.pick(['xx-YY', 'zz']);
      return tts(
        [event(rng, 'synthesize', { text: 'Hi.', voice: { language } })],
        'refuse',
        `no voice for ${language}`,
        {
          code: 'VS_ERR_INVALID_PARAMETER',
        },
      );
    }
    default: {
      const writes = [event(rng, 'synthesize-start', rng.int(2) === 0 ? {} : { voice: junkValue(rng) })];
      for (let i = rng.int(4); i > 0; i--) {
        const text = rng.int(5) === 0 ? junkValue(rng) : rng.pick(SENTENCES).slice(0, 1 + rng.int(12));
        writes.push(event(rng, 'synthesize-chunk', { text }));
      }
      writes.push(event(rng, 'synthesize', { text: 'copy' }), event(rng, 'synthesize-stop'));
      return tts(writes, 'any', `stream of ${writes.length - 3} chunks`);
    }
  }
}

function wyCut(rng: Rng, ctx: ProtocolContext): WyBody {
  const end = rng.pick(['destroy', 'reset'] as const);
  const variant = rng.int(4);
  const cutAfterMs = rng.int(4) === 0 ? 0 : rng.int(400);
  if (variant === 0) {
    const full = header({ type: 'transcribe', data: { language: 'en' } });
    const service = serviceOf(rng);
    return {
      kind: 'wyoming',
      service,
      writes: [full.subarray(0, 1 + rng.int(full.length - 2))],
      end,
      cutAfterMs,
      expect: 'cut',
      label: `${service} cut mid-header (${end})`,
    };
  }
  const pcm = speechSlice(rng, ctx.speech16k, 300 + rng.int(1500), 16000);
  if (variant === 1) {
    const chunk = event(rng, 'audio-chunk', MONO_16K, pcm);
    return {
      kind: 'wyoming',
      service: 'asr',
      writes: [
        event(rng, 'audio-start', MONO_16K),
        chunk.subarray(0, chunk.length - 1 - rng.int(pcm.length)),
      ],
      end,
      cutAfterMs,
      expect: 'cut',
      label: `asr cut mid-payload (${end})`,
    };
  }
  if (variant === 2) {
    return {
      kind: 'wyoming',
      service: 'asr',
      writes: [event(rng, 'transcribe', {}), ...audioEvents(rng, pcm)],
      end,
      cutAfterMs,
      expect: 'cut',
      label: `asr cut ${cutAfterMs} ms after audio-stop (${end})`,
    };
  }
  const text = Array.from({ length: 2 + rng.int(6) }, () => rng.pick(SENTENCES)).join(' ');
  return {
    kind: 'wyoming',
    service: 'tts',
    writes: [event(rng, 'synthesize', { text })],
    end,
    cutAfterMs,
    expect: 'cut',
    label: `tts cut ${cutAfterMs} ms into synthesis (${end})`,
  };
}

// ---------------------------------------------------------------- Realtime

function rtCase(steps: RealtimeStep[], label: string, extra: Partial<RtBody> = {}): RtBody {
  return {
    kind: 'realtime',
    target: 'open',
    query: 'intent=transcription',
    protocols: [],
    headers: {},
    upgrade: 'session',
    steps,
    finish: 'sentinel',
    label,
    ...extra,
  };
}

const json = (value: unknown) => JSON.stringify(value);
const refuse = (value: unknown): RealtimeStep => ({ op: 'text', data: json(value), refuse: true });
const accept = (value: unknown): RealtimeStep => ({ op: 'text', data: json(value) });

function rtJunkFrame(rng: Rng): RtBody {
  const steps: RealtimeStep[] = [];
  for (let i = 1 + rng.int(4); i > 0; i--) {
    switch (rng.int(5)) {
      case 0:
        steps.push({
          op: 'text',
          data: rng
            .bytes(1 + rng.int(500))
            .toString('latin1')
            .replace(/^[\s[{"\d-tfn]/, 'x'),
          refuse: true,
        });
        break;
      case 1:
        steps.push({ op: 'binary', data: rng.bytes(rng.int(2000)) });
        break;
      case 2:
        steps.push({
          op: 'text',
          data: rng.pick(['[]', '1', '"x"', 'null', 'true', '[{"type":"input_audio_buffer.clear"}]']),
          refuse: true,
        });
        break;
      case 3:
        steps.push(refuse({ type: junkValue(rng) ?? 5, event_id: junkValue(rng) }));
        break;
      default:
        steps.push({
          op: 'text',
          data: `{"type":"input_audio_buffer.append","audio":"${'A'.repeat(rng.int(100))}`,
          refuse: true,
        });
    }
  }
  return rtCase(steps, `${steps.length} junk frames`);
}

function rtUnknownEvent(rng: Rng): RtBody {
  const steps: RealtimeStep[] = [];
  for (let i = 1 + rng.int(3); i > 0; i--) {
    const variant = rng.int(3);
    if (variant === 0) {
      steps.push(
        refuse({
          type: rng.pick([
            'response.create',
            'session.update',
            'conversation.item.create',
            'x'.repeat(5000),
            '',
          ]),
          event_id: `e${i}`,
        }),
      );
    } else if (variant === 1) {
      steps.push(
        refuse({
          type: rng.pick(['input_audio_buffer.commit', 'input_audio_buffer.clear']),
          [rng.pick(['audio', 'session', 'junk', '__proto__x'])]: junkValue(rng),
        }),
      );
    } else {
      steps.push(refuse({ type: 'input_audio_buffer.append', audio: '', extra: 1 }));
    }
  }
  return rtCase(steps, `${steps.length} unknown events or fields`);
}

const base64 = (bytes: Buffer) => bytes.toString('base64');

function rtAppend(rng: Rng, ctx: ProtocolContext): RtBody {
  const manual = accept({ type: 'transcription_session.update', session: { turn_detection: null } });
  const variant = rng.int(8);
  if (variant === 7 && rng.int(4) === 0) {
    // Over the 21 MiB message bound: the WebSocket layer closes with 1009 (message too big) as
    // soon as the frame header arrives; the client, still writing, may see the reset first (1006).
    const audio = 'A'.repeat(21 * 1024 * 1024 + 4 * (1 + rng.int(1000)));
    return rtCase(
      [{ op: 'text', data: json({ type: 'input_audio_buffer.append', audio }) }],
      'append over 21 MiB',
      {
        finish: 'close-code',
        closeCodes: [1009, 1006],
      },
    );
  }
  switch (variant) {
    case 0: {
      const audio = rng.pick([
        '!!!!',
        'abc',
        'AAAA====',
        'QUJD\nRA==',
        '====',
        'A'.repeat(4 * 10 + 1),
        ' AAAA',
        'AA=A',
      ]);
      return rtCase(
        [refuse({ type: 'input_audio_buffer.append', audio })],
        `append base64 ${JSON.stringify(audio)}`,
      );
    }
    case 1:
      return rtCase(
        [refuse({ type: 'input_audio_buffer.append', audio: base64(Buffer.from([1, 2, 3])) })],
        'append odd-length pcm16',
      );
    case 2: {
      const audio = rng.pick<unknown>([7, null, ['AAAA'], { data: 'AAAA' }, true]);
      return rtCase(
        [refuse({ type: 'input_audio_buffer.append', audio })],
        `append audio ${JSON.stringify(audio)}`,
      );
    }
    case 3:
      // 130 s with no VAD: over the 120 s the buffer holds, so refused whole.
      return rtCase(
        [
          manual,
          refuse({ type: 'input_audio_buffer.append', audio: base64(Buffer.alloc(24_000 * 2 * 130)) }),
        ],
        'append 130 s with turn_detection null',
      );
    case 4: {
      const format = rng.pick(['g711_ulaw', 'g711_alaw']);
      const bytes = rng.bytes(1 + rng.int(8000));
      return rtCase(
        [
          accept({ type: 'transcription_session.update', session: { input_audio_format: format } }),
          accept({ type: 'input_audio_buffer.append', audio: base64(bytes) }),
        ],
        `append ${bytes.length} bytes of ${format}`,
      );
    }
    default: {
      const steps: RealtimeStep[] = [];
      for (let i = 1 + rng.int(6); i > 0; i--) {
        const audio =
          rng.int(2) === 0
            ? speechSlice(rng, ctx.speech24k, 20 + rng.int(300), 24000)
            : Buffer.from(rng.bytes(2 * rng.int(3000)));
        steps.push(accept({ type: 'input_audio_buffer.append', audio: base64(audio) }));
      }
      return rtCase(steps, `${steps.length} appends with server VAD`, {
        finish: rng.int(3) === 0 ? 'terminate' : 'sentinel',
        cutAfterMs: rng.int(300),
      });
    }
  }
}

function rtUpdate(rng: Rng): RtBody {
  const bad: [string, unknown][] = [
    ['input_audio_format', rng.pick(['pcm24', 'wav', '', 7, null, ['pcm16'], 'PCM16'])],
    ['turn_detection', rng.pick([7, 'server_vad', [], { type: 'semantic_vad' }, { type: 7 }])],
    ['turn_detection', { threshold: rng.pick([-0.1, 1.01, 1e308, '0.5', null, Number.NaN]) }],
    ['turn_detection', { silence_duration_ms: rng.pick([0, 19, 10_001, -5, 1e12, '500']) }],
    ['turn_detection', { prefix_padding_ms: rng.pick([-1, 5001, 1e9, true]) }],
    ['turn_detection', { [`junk${rng.int(9)}`]: 1 }],
    [
      'input_audio_transcription',
      rng.pick([
        7,
        'whisper',
        [],
        { language: 'klingon' },
        { language: 7 },
        { prompt: 'p'.repeat(5000) },
        { prompt: 7 },
        { model: 7 },
        { extra: 1 },
      ]),
    ],
    [`unknown_${rng.int(9)}`, junkValue(rng)],
  ];
  const good: [string, unknown][] = [
    ['input_audio_format', rng.pick(['pcm16', 'g711_ulaw', 'g711_alaw'])],
    [
      'turn_detection',
      rng.pick([
        null,
        {},
        { type: 'server_vad', threshold: 0, prefix_padding_ms: 0, silence_duration_ms: 20 },
        { threshold: 1, prefix_padding_ms: 5000, silence_duration_ms: 10_000 },
      ]),
    ],
    [
      'input_audio_transcription',
      rng.pick([
        null,
        {},
        { language: null },
        { language: 'de' },
        { language: '' },
        { prompt: '', model: 'whatever' },
      ]),
    ],
    ['include', junkValue(rng)],
  ];
  const steps: RealtimeStep[] = [];
  for (let i = 1 + rng.int(4); i > 0; i--) {
    if (rng.int(2) === 0) {
      const [key, value] = rng.pick(bad);
      steps.push(refuse({ type: 'transcription_session.update', session: { [key]: value } }));
    } else {
      const [key, value] = rng.pick(good);
      steps.push(accept({ type: 'transcription_session.update', session: { [key]: value } }));
    }
    if (rng.int(2) === 0)
      steps.push(
        accept({ type: 'input_audio_buffer.append', audio: base64(Buffer.alloc(2 * rng.int(2400))) }),
      );
  }
  if (rng.int(4) === 0) steps.push(refuse({ type: 'transcription_session.update' }));
  return rtCase(steps, `${steps.length} session updates`);
}

/**
 * Appends, commits and clears with manual turns, where the buffer is known exactly: a
 * commit of under 100 ms must be refused (commit_empty), one of more must be taken.
 */
function rtCommitClear(rng: Rng, ctx: ProtocolContext): RtBody {
  const steps: RealtimeStep[] = [
    accept({ type: 'transcription_session.update', session: { turn_detection: null } }),
  ];
  let buffered = 0;
  let commits = 0;
  for (let i = 2 + rng.int(10); i > 0; i--) {
    const op = rng.int(4);
    if (op === 0) {
      const ms = rng.pick([10, 50, 99, 100, 150, 400]);
      const audio = speechSlice(rng, ctx.speech24k, ms, 24000);
      buffered += audio.length / 2;
      steps.push(accept({ type: 'input_audio_buffer.append', audio: base64(audio) }));
    } else if (op === 1 || op === 2) {
      // Commits beyond three would only queue more inference; the fourth and later are clears.
      if (commits >= 3) {
        steps.push(accept({ type: 'input_audio_buffer.clear' }));
        buffered = 0;
        continue;
      }
      if (buffered < 2400) steps.push(refuse({ type: 'input_audio_buffer.commit', event_id: `c${i}` }));
      else {
        steps.push(accept({ type: 'input_audio_buffer.commit' }));
        commits += 1;
      }
      buffered = buffered < 2400 ? buffered : 0;
    } else {
      steps.push(accept({ type: 'input_audio_buffer.clear' }));
      buffered = 0;
    }
  }
  return rtCase(steps, `${steps.length - 1} manual appends/commits/clears`);
}

function rtCut(rng: Rng, ctx: ProtocolContext): RtBody {
  const steps: RealtimeStep[] = [];
  const manual = rng.int(2) === 0;
  if (manual) steps.push(accept({ type: 'transcription_session.update', session: { turn_detection: null } }));
  const speech = speechSlice(rng, ctx.speech24k, 500 + rng.int(2500), 24000);
  const chunk = 24000 * 2 * 0.1;
  for (let offset = 0; offset < speech.length; offset += chunk) {
    steps.push(
      accept({ type: 'input_audio_buffer.append', audio: base64(speech.subarray(offset, offset + chunk)) }),
    );
    if (rng.int(4) === 0) steps.push({ op: 'wait', ms: rng.int(40) });
  }
  if (!manual)
    steps.push(accept({ type: 'input_audio_buffer.append', audio: base64(Buffer.alloc(24000 * 2)) }));
  if (manual || rng.int(2) === 0)
    steps.push({ op: 'text', data: json({ type: 'input_audio_buffer.commit' }), maybe: !manual });
  const at = rng.int(steps.length + 1);
  return rtCase(
    steps.slice(0, at),
    `cut after ${at} of ${steps.length} steps (${manual ? 'manual' : 'server VAD'})`,
    {
      finish: 'terminate',
      cutAfterMs: rng.int(4) === 0 ? 0 : rng.int(1500),
    },
  );
}

function rtAuth(rng: Rng, ctx: ProtocolContext): RtBody {
  const key = ctx.apiKey;
  const variants: [string, Partial<RtBody>][] = [
    ['keyed, no key', { target: 'keyed', upgrade: [401] }],
    [
      'keyed, wrong bearer',
      { target: 'keyed', headers: { authorization: `Bearer ${key}x` }, upgrade: [401] },
    ],
    ['keyed, key as Basic', { target: 'keyed', headers: { authorization: `Basic ${key}` }, upgrade: [401] }],
    [
      'keyed, wrong key subprotocol',
      { target: 'keyed', protocols: ['realtime', `openai-insecure-api-key.${key.slice(1)}`], upgrade: [401] },
    ],
    ['keyed, bearer', { target: 'keyed', headers: { authorization: `Bearer ${key}` } }],
    [
      'keyed, key subprotocol',
      { target: 'keyed', protocols: ['realtime', `openai-insecure-api-key.${key}`] },
    ],
    ['keyed, key subprotocol only', { target: 'keyed', protocols: [`openai-insecure-api-key.${key}`] }],
    [
      'odd subprotocols',
      {
        protocols: rng.pick([
          ['x'],
          ['realtime', 'realtime2'],
          ['a'.repeat(200)],
          ['openai-beta.realtime-v1', 'chat'],
        ]),
      },
    ],
    [
      'intent missing',
      {
        query: rng.pick([
          '',
          'intent=',
          'intent=conversation',
          'intent=transcription&intent=x',
          `intent=${'t'.repeat(100)}`,
        ]),
        upgrade: [400],
      },
    ],
  ];
  const [label, extra] = rng.pick(variants);
  const steps = extra.upgrade === undefined ? [accept({ type: 'input_audio_buffer.clear' })] : [];
  return rtCase(steps, label, extra);
}

function rtUpgrade(rng: Rng): Body<UpgradeCase> {
  const key = rng.pick(['', 'short', '!!!!!!!!!!!!!!!!!!!!!!!!', 'dGhlIHNhbXBsZSBub25jZQ', 'x'.repeat(300)]);
  const version = rng.pick(['13', '8', '', 'x', '13, 8']);
  const lines = [
    `GET /v1/realtime?intent=transcription HTTP/1.1`,
    'Host: 127.0.0.1',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    `Sec-WebSocket-Version: ${version}`,
  ];
  if (rng.int(2) === 0)
    lines.push(
      `Sec-WebSocket-Protocol: ${rng.pick(['', ',,,', 'a b', 'realtime,', '"realtime"', '\u00ff'])}`,
    );
  // A key that is valid base64 of 16 bytes with version 13 would be a good upgrade: spoil it.
  if (key === 'dGhlIHNhbXBsZSBub25jZQ' && version === '13') lines[5] = 'Sec-WebSocket-Version: 99';
  return {
    kind: 'upgrade',
    target: rng.int(4) === 0 ? 'keyed' : 'open',
    raw: `${lines.join('\r\n')}\r\n\r\n`,
    label: `key ${JSON.stringify(key.slice(0, 12))} version ${JSON.stringify(version)}`,
  };
}

function rtSessions(rng: Rng, ctx: ProtocolContext): Body<SessionFloodCase> {
  const sessions = ctx.maxRealtimeSessions + 2 + rng.int(4);
  return { kind: 'flood', sessions, label: `${sessions} sessions at once` };
}

/** Case `index` of `seed`: it depends on nothing else, so it can be replayed alone. */
export function generateCase(seed: number, index: number, ctx: ProtocolContext): ProtocolCase {
  const rng = new Rng((seed * 0x9e3779b1 + index * 0x85ebca6b) >>> 0);
  const cls = PROTOCOL_CLASSES[index % PROTOCOL_CLASSES.length] as ProtocolClass;
  const body = buildCase(cls, rng, ctx);
  return { ...body, index, cls } as ProtocolCase;
}

function buildCase(cls: ProtocolClass, rng: Rng, ctx: ProtocolContext) {
  switch (cls) {
    case 'wy-random-bytes':
      return wyRandomBytes(rng);
    case 'wy-bad-header':
      return wyBadHeader(rng);
    case 'wy-lengths':
      return wyLengths(rng);
    case 'wy-unknown-event':
      return wyUnknownEvent(rng);
    case 'wy-audio-format':
      return wyAudioFormat(rng, ctx);
    case 'wy-transcribe':
      return wyTranscribe(rng, ctx);
    case 'wy-synthesize':
      return wySynthesize(rng);
    case 'wy-cut':
      return wyCut(rng, ctx);
    case 'rt-junk-frame':
      return rtJunkFrame(rng);
    case 'rt-unknown-event':
      return rtUnknownEvent(rng);
    case 'rt-append':
      return rtAppend(rng, ctx);
    case 'rt-update':
      return rtUpdate(rng);
    case 'rt-commit-clear':
      return rtCommitClear(rng, ctx);
    case 'rt-cut':
      return rtCut(rng, ctx);
    case 'rt-auth':
      return rtAuth(rng, ctx);
    case 'rt-upgrade':
      return rtUpgrade(rng);
    case 'rt-sessions':
      return rtSessions(rng, ctx);
  }
}
