/**
 * Bazarr's long films, as Bazarr sends them: the whole audio track as raw 16 kHz s16le
 * PCM to `/asr?encode=false&output=srt` (a three-hour film is 346 MB), with default
 * settings, against the real server and binding. Then the same film as MP3, Opus and
 * MKV uploads. Memory must not grow with the length: RSS growth during three hours is
 * compared with the growth during thirty minutes of the same audio.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, openAsBlob, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FormData, request } from 'undici';
import { FIXTURE_DIR, speechWav, testWhisperModel } from '../support/fixtures.js';
import { ServiceProcess } from '../support/service-process.js';

const RATE = 16000;
const UNIT_SECONDS = 60;
const HOURS_3 = 3 * 3600;
const MINUTES_30 = 30 * 60;

/**
 * One minute of a film: room tone (about -66 dBFS, seeded), then a spoken line ending at
 * the minute's end, so the last words of a file are at its very end.
 */
function filmMinute(): Buffer {
  const line = execFileSync('ffmpeg', [
    ...['-v', 'error', '-i', speechWav('Where were you last night? I waited for hours.', 'film-line')],
    ...['-ar', String(RATE), '-ac', '1', '-f', 's16le', 'pipe:1'],
  ]);
  const unit = Buffer.alloc(UNIT_SECONDS * RATE * 2);
  let seed = 12345;
  for (let i = 0; i < unit.length; i += 2) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    unit.writeInt16LE(Math.round(((seed / 0x7fffffff) * 2 - 1) * 16), i);
  }
  line.copy(unit, unit.length - line.length);
  return unit;
}

/** Raw PCM of `seconds` (a whole number of minutes), written once per run. */
function rawFilm(seconds: number): string {
  const path = join(FIXTURE_DIR, `film-${seconds}s.s16le`);
  if (existsSync(path)) return path;
  const unit = filmMinute();
  const film = Buffer.alloc((seconds / UNIT_SECONDS) * unit.length);
  for (let at = 0; at < film.length; at += unit.length) unit.copy(film, at);
  writeFileSync(path, film);
  return path;
}

/** The film as another container: one encoded minute, repeated by stream copy (seconds, not minutes). */
function encodedFilm(seconds: number, extension: 'mp3' | 'ogg' | 'mkv'): string {
  const path = join(FIXTURE_DIR, `film-${seconds}s.${extension}`);
  if (existsSync(path)) return path;
  const minuteRaw = join(FIXTURE_DIR, 'film-minute.s16le');
  writeFileSync(minuteRaw, filmMinute());
  const codec =
    extension === 'mp3' ? ['-c:a', 'libmp3lame', '-b:a', '64k'] : ['-c:a', 'libopus', '-b:a', '32k'];
  const minute = join(FIXTURE_DIR, `film-minute.${extension === 'mp3' ? 'mp3' : 'ogg'}`);
  execFileSync('ffmpeg', [
    ...['-v', 'error', '-y', '-f', 's16le', '-ar', String(RATE), '-ac', '1', '-i', minuteRaw],
    ...codec,
    minute,
  ]);
  const repeats = String(seconds / UNIT_SECONDS - 1);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-stream_loop', repeats, '-i', minute, '-c', 'copy', path]);
  return path;
}

function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) * 1024;
}

interface Cue {
  readonly index: number;
  readonly start: number;
  readonly end: number;
}

function seconds(stamp: string): number {
  const [h, m, rest] = stamp.split(':');
  const [s, ms] = (rest ?? '').split(',');
  return Number(h) * 3600 + Number(m) * 60 + Number(s) + Number(ms) / 1000;
}

/** Parses SRT strictly: numbered blocks, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, text. */
function parseSrt(body: string): Cue[] {
  const blocks = body.trim().split(/\r?\n\r?\n/);
  return blocks.map((block, i) => {
    const [index, times] = block.split(/\r?\n/);
    const match = /^(\d{2}:\d{2}:\d{2},\d{3}) --> (\d{2}:\d{2}:\d{2},\d{3})$/.exec(times ?? '');
    assert.ok(match, `cue ${i + 1} has SRT timestamps: ${JSON.stringify(block.slice(0, 80))}`);
    assert.equal(Number(index), i + 1, 'cues are numbered in order');
    return { index: i + 1, start: seconds(match[1] as string), end: seconds(match[2] as string) };
  });
}

/**
 * `slack`: seconds the decoded audio may run past the film, for a file made of repeated
 * encoded minutes (each brings its encoder's priming and padding, 20–50 ms).
 */
function assertFilmSubtitles(srt: string, filmSeconds: number, label: string, slack = 0.01): Cue[] {
  const cues = parseSrt(srt);
  // The random-weight model says about one thing per window it is given; every ten
  // minutes of film must have produced something.
  assert.ok(cues.length >= filmSeconds / 600, `${label}: ${cues.length} cues`);
  let previous = 0;
  for (const cue of cues) {
    assert.ok(cue.start >= previous, `${label}: cue ${cue.index} starts at ${cue.start}, before ${previous}`);
    assert.ok(cue.end >= cue.start, `${label}: cue ${cue.index} ends before it starts`);
    previous = cue.start;
  }
  const last = cues.at(-1) as Cue;
  assert.ok(
    last.end > filmSeconds - UNIT_SECONDS && last.end <= filmSeconds + slack,
    `${label}: the last cue ends at ${last.end}s of ${filmSeconds}s`,
  );
  return cues;
}

describe("Bazarr's long films with default settings (real server, real binding)", () => {
  let server: ServiceProcess;
  let base: string;
  before(async () => {
    // Default limits: no MAX_UPLOAD_SIZE_MB, no MAX_AUDIO_HOURS.
    server = await ServiceProcess.start(['serve', 'asr'], { ASR_MODEL: await testWhisperModel() });
    base = server.url('asr');
  });
  after(() => server.stop());

  /** Bazarr's request: query task/language/output/encode, the audio in `audio_file`. */
  async function bazarrAsr(path: string, encode: boolean, filename: string) {
    const form = new FormData();
    form.append('audio_file', await openAsBlob(path), filename);
    const query = `task=transcribe&language=en&output=srt&encode=${encode}`;
    const pid = server.child.pid as number;
    const before = residentBytes(pid);
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, residentBytes(pid));
    }, 50);
    const started = performance.now();
    try {
      const response = await request(`${base}/asr?${query}`, { method: 'POST', body: form });
      const body = await response.body.text();
      peak = Math.max(peak, residentBytes(pid));
      return { status: response.statusCode, body, grewBy: peak - before, ms: performance.now() - started };
    } finally {
      clearInterval(sampler);
    }
  }

  it('transcribes 3 hours of raw PCM to monotonic SRT, RSS growth within 1.3x of 30 minutes', async () => {
    // A first request loads the model and the engine's buffers, so neither run below pays for them.
    const warm = await bazarrAsr(rawFilm(UNIT_SECONDS * 5), false, 'warm');
    assert.equal(warm.status, 200, warm.body.slice(0, 300));
    const short = await bazarrAsr(rawFilm(MINUTES_30), false, 'audio_file');
    assert.equal(short.status, 200, short.body.slice(0, 300));
    assertFilmSubtitles(short.body, MINUTES_30, '30 min');
    const long = await bazarrAsr(rawFilm(HOURS_3), false, 'audio_file');
    assert.equal(long.status, 200, long.body.slice(0, 300));
    const cues = assertFilmSubtitles(long.body, HOURS_3, '3 h');
    const mb = (bytes: number) => (bytes / 1048576).toFixed(1);
    const ratio = long.grewBy / Math.max(short.grewBy, 1);
    console.log(
      `raw PCM: 30 min (55 MB) RSS grew ${mb(short.grewBy)} MB in ${(short.ms / 1000).toFixed(1)} s; ` +
        `3 h (330 MB) RSS grew ${mb(long.grewBy)} MB in ${(long.ms / 1000).toFixed(1)} s; ` +
        `ratio ${ratio.toFixed(2)}; ${cues.length} cues, last ends at ${cues.at(-1)?.end} s`,
    );
    assert.ok(ratio <= 1.3, `RSS growth 3 h / 30 min = ${ratio.toFixed(2)}`);
  });

  for (const [extension, label] of [
    ['mp3', 'MP3'],
    ['ogg', 'Opus'],
    ['mkv', 'MKV (Opus)'],
  ] as const) {
    it(`transcribes the same 3 hours as a ${label} upload`, async () => {
      const result = await bazarrAsr(encodedFilm(HOURS_3, extension), true, `film.${extension}`);
      assert.equal(result.status, 200, result.body.slice(0, 300));
      const cues = assertFilmSubtitles(result.body, HOURS_3, label, (HOURS_3 / UNIT_SECONDS) * 0.06);
      console.log(
        `${label}: 3 h in ${(result.ms / 1000).toFixed(1)} s, RSS grew ${(result.grewBy / 1048576).toFixed(1)} MB, ${cues.length} cues`,
      );
    });
  }
});
