import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeAudio, decodeAudioInSlices, decodeRawPcm16 } from '../../src/audio/decode.js';
import { durationSeconds } from '../../src/audio/pcm-audio.js';
import { floatToS16le } from '../../src/audio/wav.js';
import { dominantFrequency, ffmpeg, sine, tempDir } from './signals.js';

const SECONDS = 2;
const TONE = 1000;
const { dir, cleanup } = tempDir();
const sineInput = (rate: number) => [
  '-f',
  'lavfi',
  '-i',
  `sine=frequency=${TONE}:sample_rate=${rate}:duration=${SECONDS}`,
];
const stereo = ['-ac', '2'];

/** Every container the ASR service should accept, made from a known 1 kHz, 2 s tone. */
const FIXTURES: Record<string, string[]> = {
  'wav-u8.wav': [...sineInput(22050), '-c:a', 'pcm_u8'],
  'wav-s16-stereo.wav': [...sineInput(44100), ...stereo, '-c:a', 'pcm_s16le'],
  'wav-s24.wav': [...sineInput(48000), '-c:a', 'pcm_s24le'],
  'wav-s32.wav': [...sineInput(48000), ...stereo, '-c:a', 'pcm_s32le'],
  'wav-f32.wav': [...sineInput(32000), '-c:a', 'pcm_f32le'],
  'wav-f64.wav': [...sineInput(16000), '-c:a', 'pcm_f64le'],
  'wav-mulaw.wav': [...sineInput(8000), '-c:a', 'pcm_mulaw'],
  // Long enough to come out in several slices, at the decode rate and to be resampled.
  'long-16k.wav': [
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=16000:duration=10',
    '-c:a',
    'pcm_s16le',
  ],
  'long-48k.wav': [
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=48000:duration=10',
    '-c:a',
    'pcm_s16le',
  ],
  'tone.mp3': [...sineInput(44100), '-c:a', 'libmp3lame', '-b:a', '128k'],
  'tone.flac': [...sineInput(44100), ...stereo, '-c:a', 'flac'],
  'tone.ogg': [...sineInput(48000), '-c:a', 'libopus', '-b:a', '64k'],
  'tone-vorbis.ogg': [...sineInput(44100), '-c:a', 'libvorbis'],
  'tone.m4a': [...sineInput(44100), '-c:a', 'aac', '-b:a', '128k'],
  'tone.webm': [...sineInput(48000), ...stereo, '-c:a', 'libopus'],
  'video.mp4': [
    ...['-f', 'lavfi', '-i', `color=c=blue:s=64x64:r=25:d=${SECONDS}`],
    ...sineInput(44100),
    ...['-c:v', 'mpeg4', '-c:a', 'aac', '-shortest'],
  ],
  'silent-video.mp4': ['-f', 'lavfi', '-i', 'color=c=red:s=64x64:r=25:d=1', '-c:v', 'mpeg4'],
};

const fixture = (name: string) => join(dir, name);

before(() => {
  for (const [name, args] of Object.entries(FIXTURES)) ffmpeg(...args, fixture(name));
  // What `espeak-ng --stdout` and ffmpeg-to-a-pipe write: the sizes are never filled in.
  const streamed = Buffer.from(readFileSync(fixture('wav-f64.wav')));
  const dataAt = streamed.indexOf('data');
  streamed.writeUInt32LE(0xffffffff, 4);
  streamed.writeUInt32LE(0xffffffff, dataAt + 4);
  writeFileSync(fixture('streamed.wav'), streamed);
});

after(cleanup);

function assertTone(
  audio: { sampleRate: number; samples: Float32Array },
  seconds = SECONDS,
  tolerance = 0.1,
) {
  assert.equal(audio.sampleRate, 16000);
  const duration = durationSeconds(audio);
  assert.ok(Math.abs(duration - seconds) <= tolerance, `duration ${duration}s, expected ${seconds}s`);
  assert.ok(Math.abs(dominantFrequency(audio.samples, 16000) - TONE) <= 10, 'dominant frequency');
}

async function assertDecodeError(promise: Promise<unknown>, detail: RegExp): Promise<void> {
  await assert.rejects(promise, (error: Error & { code?: string }) => {
    assert.equal(error.code, 'VS_ERR_AUDIO_DECODE');
    assert.match(error.message, /^Could not decode audio: /);
    assert.match(error.message, detail);
    assert.doesNotMatch(error.message, new RegExp(`${dir}|/tmp/|\\n\\s+at `));
    return true;
  });
}

const TONE_FIXTURES = Object.keys(FIXTURES).filter((n) => !n.startsWith('silent') && !n.startsWith('long'));

describe('decodeAudio', () => {
  for (const name of [...TONE_FIXTURES, 'streamed.wav']) {
    it(`decodes ${name} from memory to 16 kHz mono with the tone intact`, async () => {
      assertTone(await decodeAudio({ data: readFileSync(fixture(name)) }));
    });
  }

  for (const name of ['tone.mp3', 'video.mp4', 'wav-s16-stereo.wav', 'tone.m4a']) {
    it(`decodes ${name} from a file path`, async () => {
      assertTone(await decodeAudio({ path: fixture(name) }));
    });
  }

  it('decodes at another target rate when asked', async () => {
    const audio = await decodeAudio({ path: fixture('tone.flac') }, { targetRate: 8000 });
    assert.equal(audio.sampleRate, 8000);
    assert.ok(Math.abs(durationSeconds(audio) - SECONDS) < 0.05);
  });

  it('rejects empty, random, truncated and text input with a decode error', async () => {
    await assertDecodeError(decodeAudio({ data: new Uint8Array(0) }), /empty/);
    await assertDecodeError(decodeAudio({ data: randomBytes(64 * 1024) }), /./);
    const wav = readFileSync(fixture('wav-s24.wav'));
    await assertDecodeError(decodeAudio({ data: wav.subarray(0, 30) }), /truncated|incomplete/);
    const text = Buffer.from('This is a plain text file, not audio.\n'.repeat(50));
    await assertDecodeError(decodeAudio({ data: text }), /not a recognised audio/);
    writeFileSync(fixture('notes.txt'), text);
    // By its .txt name ffmpeg reads it as ANSI art: a video with no sound.
    await assertDecodeError(
      decodeAudio({ path: fixture('notes.txt') }),
      /not a recognised audio|no audio track/,
    );
  });

  it('rejects a corrupt MP3 and an MP4 with no audio track, naming the problem', async () => {
    const mp3 = Buffer.from(readFileSync(fixture('tone.mp3')));
    await assertDecodeError(decodeAudio({ data: randomBytes(20_000) }), /./);
    await assertDecodeError(decodeAudio({ data: mp3.subarray(0, 100) }), /./);
    await assertDecodeError(decodeAudio({ path: fixture('silent-video.mp4') }), /no audio track/);
    await assertDecodeError(
      decodeAudio({ data: readFileSync(fixture('silent-video.mp4')) }),
      /no audio track/,
    );
  });

  it('rejects a missing file without revealing its path', async () => {
    await assertDecodeError(decodeAudio({ path: fixture('missing.wav') }), /could not be read/);
  });

  it('refuses HLS playlists, which would make ffmpeg open other files', async () => {
    const playlist = `#EXTM3U\n#EXTINF:2,\n${fixture('tone.mp3')}\n#EXT-X-ENDLIST\n`;
    await assertDecodeError(decodeAudio({ data: Buffer.from(playlist) }), /playlists/);
  });

  it('stops ffmpeg and rejects with the abort reason when the signal aborts', async () => {
    const controller = new AbortController();
    const reason = new Error('client went away');
    const decoding = decodeAudio({ path: fixture('tone.flac') }, { signal: controller.signal });
    controller.abort(reason);
    await assert.rejects(decoding, (error) => error === reason);
    await assert.rejects(decodeAudio({ path: fixture('tone.flac') }, { signal: controller.signal }), reason);
  });

  it('rejects audio longer than maxSeconds instead of buffering it', async () => {
    await assertDecodeError(decodeAudio({ path: fixture('tone.mp3') }, { maxSeconds: 0.5 }), /longer than/);
  });
});

describe('decodeAudioInSlices', () => {
  async function slicesOf(data: Uint8Array): Promise<Float32Array[]> {
    const slices: Float32Array[] = [];
    for await (const slice of decodeAudioInSlices(data)) slices.push(slice);
    return slices;
  }

  for (const name of [...TONE_FIXTURES, 'streamed.wav', 'long-16k.wav', 'long-48k.wav']) {
    it(`gives decodeAudio's samples for ${name}, value for value`, async () => {
      const data = readFileSync(fixture(name));
      const whole = await decodeAudio({ data });
      const slices = await slicesOf(data);
      const joined = new Float32Array(slices.reduce((n, slice) => n + slice.length, 0));
      let at = 0;
      for (const slice of slices) {
        joined.set(slice, at);
        at += slice.length;
      }
      assert.deepEqual(joined, whole.samples);
    });
  }

  for (const name of ['long-16k.wav', 'long-48k.wav']) {
    it(`lets the event loop run between the slices of ${name}`, async () => {
      // Another task that wants the event loop meanwhile: it counts its turns.
      let turns = 0;
      let ticking = true;
      const tick = () => {
        turns += 1;
        if (ticking) setImmediate(tick);
      };
      setImmediate(tick);
      const turnsAtSlice: number[] = [];
      try {
        for await (const _slice of decodeAudioInSlices(readFileSync(fixture(name)))) turnsAtSlice.push(turns);
      } finally {
        ticking = false;
      }
      assert.ok(turnsAtSlice.length > 2, `${turnsAtSlice.length} slices`);
      assert.ok((turnsAtSlice.at(-1) ?? 0) > (turnsAtSlice[0] ?? 0), 'timers ran while it decoded');
    });
  }

  it('refuses what decodeAudio refuses, with the same errors', async () => {
    const wav = readFileSync(fixture('wav-s24.wav'));
    await assertDecodeError(slicesOf(new Uint8Array(0)), /empty/);
    await assertDecodeError(slicesOf(wav.subarray(0, 30)), /truncated|incomplete/);
    await assertDecodeError(slicesOf(Buffer.from('#EXTM3U\n')), /playlists/);
  });
});

describe('decodeRawPcm16', () => {
  it('reads s16le at its own rate and resamples to 16 kHz', () => {
    const audio = decodeRawPcm16(floatToS16le(sine(TONE, 24000, 1)), 24000);
    assert.equal(audio.sampleRate, 16000);
    assert.equal(audio.samples.length, 16000);
    assert.equal(dominantFrequency(audio.samples, 16000), TONE);
  });

  it('rejects empty PCM', () => {
    assert.throws(() => decodeRawPcm16(new Uint8Array(0)), { code: 'VS_ERR_AUDIO_DECODE' });
  });
});
