import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSettings, type SettingsError } from '../../src/core/settings.js';
import { EventParser } from '../../src/wyoming/event-parser.js';
import { encodeEvent, WYOMING_PROTOCOL_VERSION, wyomingEvent } from '../../src/wyoming/wyoming-event.js';

const LIMITS = { maxHeaderBytes: 1024, maxDataBytes: 4096, maxPayloadBytes: 8192 };

describe('Wyoming event framing', () => {
  const events = [
    wyomingEvent('describe'),
    wyomingEvent('audio-chunk', { rate: 16000, width: 2, channels: 1 }, Buffer.from([1, 2, 3, 4])),
    wyomingEvent('synthesize', { text: 'Grüße, 世界\nnew line' }),
    wyomingEvent('audio-stop'),
  ];
  const bytes = Buffer.concat(events.map(encodeEvent));

  it('writes one header line with the version, then the data, then the payload', () => {
    const chunk = encodeEvent(events[1] as (typeof events)[1]);
    const newline = chunk.indexOf(0x0a);
    const header = JSON.parse(chunk.subarray(0, newline).toString()) as Record<string, unknown>;
    assert.equal(header.version, WYOMING_PROTOCOL_VERSION);
    const dataLength = header.data_length as number;
    assert.deepEqual(JSON.parse(chunk.subarray(newline + 1, newline + 1 + dataLength).toString()), {
      rate: 16000,
      width: 2,
      channels: 1,
    });
    assert.deepEqual([...chunk.subarray(newline + 1 + dataLength)], [1, 2, 3, 4]);
    assert.equal(header.payload_length, 4);
  });

  it('reads the same events however the bytes are split', () => {
    for (let cut = 1; cut < bytes.length; cut += 1) {
      const parser = new EventParser(LIMITS);
      const got = [...parser.push(bytes.subarray(0, cut)), ...parser.push(bytes.subarray(cut))];
      assert.deepEqual(got, events, `split at ${cut}`);
      assert.equal(parser.bufferedBytes, 0);
    }
    const parser = new EventParser(LIMITS);
    const oneByOne = [...bytes].flatMap((byte) => parser.push(Buffer.from([byte])));
    assert.deepEqual(oneByOne, events);
  });

  it('merges data after the header over the header’s data', () => {
    const data = Buffer.from(JSON.stringify({ text: 'after', voice: { name: 'x' } }));
    const header = `${JSON.stringify({ type: 'synthesize', data: { text: 'inline', keep: 1 }, data_length: data.length })}\n`;
    const [event] = new EventParser(LIMITS).push(Buffer.concat([Buffer.from(header), data]));
    assert.deepEqual(event?.data, { text: 'after', keep: 1, voice: { name: 'x' } });
  });

  it('refuses lengths over the limits from the header alone', () => {
    const over = (field: string, value: unknown) =>
      assert.throws(
        () => new EventParser(LIMITS).push(Buffer.from(`${JSON.stringify({ type: 'x', [field]: value })}\n`)),
        (error: Error & { code?: string }) =>
          error.code === 'VS_ERR_PROTOCOL' && error.message.includes(field),
      );
    over('payload_length', 8193);
    over('data_length', 4097);
    over('payload_length', -1);
    over('data_length', 1.5);
    over('payload_length', '12');
  });

  it('refuses a header line past its limit before it ends, and headers that are not events', () => {
    assert.throws(
      () => new EventParser(LIMITS).push(Buffer.alloc(1024, 0x20)),
      /header line longer than 1024/,
    );
    // Found by the protocol fuzz: a line over the bound was taken when it arrived in one read
    // and refused when split across reads; it must be refused however it arrives.
    const long = Buffer.from(`${JSON.stringify({ type: 'ping', data: { text: 'y'.repeat(2000) } })}\n`);
    assert.throws(() => new EventParser(LIMITS).push(long), /header line longer than 1024/, 'one read');
    assert.throws(
      () => {
        const parser = new EventParser(LIMITS);
        parser.push(long.subarray(0, 600));
        parser.push(long.subarray(600));
      },
      /header line longer than 1024/,
      'two reads',
    );
    const exact = Buffer.from(`{"type":"ping","data":{"text":"${'z'.repeat(1024 - 35)}"}}\n`);
    assert.equal(exact.length, 1024);
    assert.equal(
      new EventParser(LIMITS).push(exact)[0]?.type,
      'ping',
      'a line of exactly the bound is taken',
    );
    for (const line of ['not json', '[1,2]', '{"type": ""}', '{"data": {}}', '{"type": "x", "data": [1]}']) {
      assert.throws(() => new EventParser(LIMITS).push(Buffer.from(`${line}\n`)), /Protocol error/, line);
    }
  });
});

describe('Wyoming framing under garbage', () => {
  /** A small deterministic generator (mulberry32), so a failure can be replayed. */
  function random(seed: number): () => number {
    let state = seed;
    return () => {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  it('either reads events or refuses with a protocol error, and never holds more than the limits', () => {
    const next = random(1);
    const fragments = [
      '{"type":"audio-chunk","payload_length":4}\n',
      '{"type":"x","data_length":3}\n',
      '{"data":1}',
      '\n',
      '{',
      '}',
      '"',
      'null\n',
    ];
    let refused = 0;
    for (let round = 0; round < 2000; round += 1) {
      const parser = new EventParser(LIMITS);
      const pieces = Array.from({ length: 1 + Math.floor(next() * 12) }, () =>
        next() < 0.5
          ? Buffer.from(fragments[Math.floor(next() * fragments.length)] as string)
          : Buffer.from(Array.from({ length: Math.floor(next() * 64) }, () => Math.floor(next() * 256))),
      );
      try {
        for (const piece of pieces) parser.push(piece);
        const bound = LIMITS.maxHeaderBytes + LIMITS.maxDataBytes + LIMITS.maxPayloadBytes;
        assert.ok(parser.bufferedBytes <= bound, `holds ${parser.bufferedBytes} bytes`);
      } catch (error) {
        assert.equal((error as { code?: string }).code, 'VS_ERR_PROTOCOL', String(error));
        refused += 1;
      }
    }
    assert.ok(refused > 0, 'some streams were refused');
  });
});

describe('Wyoming settings', () => {
  it('is on at 10300 and 10200 by default, off by default under API_KEY, and on when a port is set', () => {
    assert.deepEqual(parseSettings({}).wyoming, {
      asr: { port: 10300, explicit: false },
      tts: { port: 10200, explicit: false },
      zeroconf: false,
    });
    const keyed = parseSettings({ API_KEY: 'secret' }).wyoming;
    assert.equal(keyed.asr, undefined);
    assert.equal(keyed.tts, undefined);
    const chosen = parseSettings({ API_KEY: 'secret', WYOMING_ASR_PORT: '10400' }).wyoming;
    assert.deepEqual(chosen.asr, { port: 10400, explicit: true });
    assert.equal(chosen.tts, undefined);
    assert.equal(parseSettings({ WYOMING_TTS_PORT: 'off' }).wyoming.tts, undefined);
    assert.equal(parseSettings({ WYOMING_ZEROCONF: 'true' }).wyoming.zeroconf, true);
  });

  it('names a bad value', () => {
    assert.throws(
      () => parseSettings({ WYOMING_ASR_PORT: '70000', WYOMING_ZEROCONF: 'maybe' }),
      (error: SettingsError) =>
        error.problems.some((p) => p.startsWith('WYOMING_ASR_PORT="70000"')) &&
        error.problems.some((p) => p.startsWith('WYOMING_ZEROCONF="maybe"')),
    );
  });
});
