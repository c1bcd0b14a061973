import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FormData, request } from 'undici';
import { speechWav, testWhisperModel } from '../support/fixtures.js';
import { detailedHealth, http } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

interface ErrorBody {
  error: { message: string; code: string; param: string | null };
}

function wavHeader(rate: number, channels: number, bits: number, data: Buffer): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(Math.min(0xffffffff, (rate * channels * bits) / 8), 28);
  header.writeUInt16LE(Math.min(0xffff, (channels * bits) / 8), 32);
  header.writeUInt16LE(bits, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

/** A raw HTTP request, for bodies no client library would frame. */
function rawPost(port: number, path: string, contentType: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
    });
    socket.on('error', reject);
    socket.on('end', () => resolve(answer));
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}

describe('ASR against hostile uploads (real server, real whisper.cpp)', () => {
  let server: ServiceProcess;
  let base: string;
  let port: number;
  let secretDir: string;
  let spoolParent: string;
  before(async () => {
    spoolParent = mkdtempSync(join(tmpdir(), 'vs-hostile-tmp-'));
    // A spool folder left by a process that no longer exists: swept at start.
    mkdirSync(join(spoolParent, 'voice-stack-uploads-999999999'));
    writeFileSync(join(spoolParent, 'voice-stack-uploads-999999999', 'left'), 'x');
    secretDir = mkdtempSync(join(tmpdir(), 'vs-secret-'));
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-y',
      '-i',
      speechWav('A secret sentence.', 'asr-secret'),
      join(secretDir, 'secret.mp3'),
    ]);
    server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      TMPDIR: spoolParent,
      API_KEY: 'k',
    });
    base = server.url('asr');
    port = Number(new URL(base).port);
  });
  after(async () => {
    await server.stop();
    rmSync(secretDir, { recursive: true, force: true });
    rmSync(spoolParent, { recursive: true, force: true });
  });

  const auth = { authorization: 'Bearer k' };
  const upload = async (
    data: Buffer,
    name: string,
    fields: Record<string, string> = {},
    path = '/v1/audio/transcriptions',
  ) => {
    const form = new FormData();
    form.append(
      path.includes('asr') || path.includes('detect') ? 'audio_file' : 'file',
      new Blob([new Uint8Array(data)]),
      name,
    );
    for (const [key, value] of Object.entries(fields)) form.append(key, value);
    const response = await request(`${base}${path}`, { method: 'POST', body: form, headers: auth });
    const text = await response.body.text();
    return { status: response.statusCode, text };
  };

  it('never lets an upload name another file: playlists and concat lists in every disguise', async () => {
    const secret = join(secretDir, 'secret.mp3');
    const hls = (target: string) =>
      `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n${target}\n#EXT-X-ENDLIST\n`;
    const id3 = Buffer.from([0x49, 0x44, 0x33, 3, 0, 0, 0, 0, 0, 0]);
    const cases: [string, Buffer][] = [
      ['plain.m3u8', Buffer.from(hls(`file:${secret}`))],
      ['id3.m3u8', Buffer.concat([id3, Buffer.from(hls(`file:${secret}`))])],
      ['bom.m3u8', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(hls(secret))])],
      ['relative.m3u8', Buffer.concat([id3, Buffer.from(hls(`../../../../../../../../..${secret}`))])],
      ['missing.m3u8', Buffer.concat([id3, Buffer.from(hls(`file:${secretDir}/no-such.mp3`))])],
      ['list.txt', Buffer.from(`ffconcat version 1.0\nfile '${secret}'\n`)],
      ['sub.txt', Buffer.from(`subfile,,start,0,end,0,,:${secret}\n`)],
    ];
    const answers = new Set<string>();
    for (const [name, data] of cases) {
      const response = await upload(data, name);
      assert.equal(response.status, 400, `${name}: ${response.text}`);
      const body = JSON.parse(response.text) as ErrorBody;
      assert.equal(body.error.code, 'VS_ERR_AUDIO_DECODE', name);
      assert.ok(!response.text.includes(secretDir), `${name} leaks a path`);
      if (name !== 'plain.m3u8') answers.add(body.error.message);
    }
    // The same answer whether the named file exists or not: no existence oracle.
    assert.equal(answers.size, 1, [...answers].join(' | '));
  });

  it('refuses lying WAV headers with 400 at once, and /health stays fast', async () => {
    const samples = Buffer.alloc(64, 1);
    const headers = [
      wavHeader(50_000_017, 1, 16, samples),
      wavHeader(1, 1, 16, Buffer.alloc(7200, 1)),
      wavHeader(0, 1, 16, samples),
      wavHeader(16000, 0, 16, samples),
      wavHeader(16000, 1, 7, samples),
      wavHeader(4_000_000_000, 2, 16, samples),
      // Over the 4 MB that are parsed in process: the header is checked before ffmpeg is.
      wavHeader(50_000_017, 1, 16, Buffer.alloc(5 * 1024 * 1024, 1)),
      wavHeader(0, 1, 16, Buffer.alloc(5 * 1024 * 1024, 1)),
    ];
    for (const wav of headers) {
      const started = performance.now();
      const [response, health] = await Promise.all([
        upload(wav, 'bomb.wav'),
        (async () => {
          const t = performance.now();
          await http(`${base}/health`);
          return performance.now() - t;
        })(),
      ]);
      // A bit depth the parser lacks may still be ffmpeg's to read; a lying rate never is.
      const rate = wav.readUInt32LE(24);
      if (rate < 1000 || rate > 768_000) {
        assert.equal(response.status, 400, `${rate} Hz: ${response.text}`);
        assert.match(
          response.text,
          /declares a sample rate of/,
          'refused by the header check, not by ffmpeg',
        );
      } else assert.ok(response.status === 200 || response.status === 400, response.text);
      assert.ok(performance.now() - started < 10_000);
      assert.ok(health < 1000, `/health took ${health} ms`);
    }
  });

  it('answers malformed multipart with 400 naming the body, never 500', async () => {
    const part = 'Content-Disposition: form-data; name="file"; filename="a.wav"';
    const long = 'b'.repeat(300);
    const bodies: [string, string][] = [
      ['multipart/form-data', 'abc'],
      ['multipart/form-data; boundary=XYZ', `--ABC\r\n${part}\r\n\r\nxx\r\n--ABC--\r\n`],
      [`multipart/form-data; boundary=${long}`, `--${long}\r\n${part}\r\n\r\nxx\r\n--${long}--\r\n`],
      ['multipart/form-data; boundary=XYZ', `--XYZ\r\n${part}\r\n\r\nxxxx`],
      ['multipart/form-data; boundary=XYZ', `--XYZ\n${part}\n\nxxxx\n--XYZ--\n`],
    ];
    for (const [contentType, body] of bodies) {
      const answer = await rawPost(port, '/v1/audio/transcriptions', contentType, body);
      const status = Number(answer.split(' ')[1]);
      assert.ok(
        status === 400 || status === 401 || status === 413,
        `${contentType}: ${answer.slice(0, 300)}`,
      );
      assert.doesNotMatch(answer, /VS_ERR_INTERNAL|\n\s+at /);
    }
    const form = new FormData();
    const wav = Buffer.from(wavHeader(16000, 1, 16, Buffer.alloc(32000)));
    form.append('file', new Blob([new Uint8Array(wav)]), 'a.wav');
    form.append('file', new Blob([new Uint8Array(wav)]), 'b.wav');
    const twice = await request(`${base}/v1/audio/transcriptions`, {
      method: 'POST',
      body: form,
      headers: auth,
    });
    assert.equal(twice.statusCode, 400);
    assert.match(await twice.body.text(), /only one file/);
    const many = new FormData();
    for (let i = 0; i < 200; i += 1) many.append(`f${i}`, 'x');
    const crowded = await request(`${base}/v1/audio/transcriptions`, {
      method: 'POST',
      body: many,
      headers: auth,
    });
    assert.equal(crowded.statusCode, 400);
    assert.match(await crowded.body.text(), /too many form/);
  });

  it('refuses non-finite numbers in forms and queries, and over-long ids in the envelope', async () => {
    const wav = readyWav();
    for (const temperature of ['Infinity', '-Infinity', '1e400', 'NaN']) {
      const response = await upload(wav, 'a.wav', { temperature });
      assert.equal(response.status, 400, `${temperature}: ${response.text}`);
      assert.equal((JSON.parse(response.text) as ErrorBody).error.param, 'temperature');
    }
    const detect = await upload(wav, 'a.wav', {}, '/detect-language?detect_lang_length=Infinity');
    assert.equal(detect.status, 400, detect.text);
    const long = await http(`${base}/v1/models/${'a'.repeat(200)}`, { headers: auth });
    assert.equal(long.status, 400);
    assert.ok(long.json<ErrorBody>().error.code.startsWith('VS_ERR_'));
  });

  it("serves the origin's Bazarr routes and Open WebUI's listing without a key", async () => {
    const wav = readyWav();
    const asr = await upload(wav, 'a.wav', {}, '/bazarr/asr?output=srt&encode=true');
    assert.equal(asr.status, 200, asr.text);
    const detect = await upload(
      wav,
      'a.wav',
      {},
      '/bazarr/detect-language?detect_lang_length=1&detect_lang_offset=0.5',
    );
    assert.equal(detect.status, 200, detect.text);
    assert.ok('language_code' in JSON.parse(detect.text));
    const models = await http(`${base}/bazarr/models`, { headers: auth });
    assert.equal(models.status, 200);
    const listing = await http(`${base}/v1/audio/models`);
    assert.equal(listing.status, 200, 'Open WebUI sends no key on this GET');
    const body = listing.json<{ models: { id: string }[]; data: { id: string }[] }>();
    assert.ok(body.models.some((m) => m.id === 'whisper-1'));
    assert.deepEqual(body.models, body.data);
    assert.equal((await http(`${base}/v1/models`)).status, 401, 'the rest still needs the key');
  });

  it('leaves no spool file behind, and swept the dead process spool at start', async () => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const left = readdirSync(spoolParent).filter((name) => name.startsWith('voice-stack-uploads-'));
    assert.deepEqual(left, [`voice-stack-uploads-${server.child.pid}`]);
    assert.deepEqual(readdirSync(join(spoolParent, left[0] as string)), []);
  });
});

function readyWav(): Buffer {
  const samples = Buffer.alloc(32000);
  for (let i = 0; i < 16000; i += 1)
    samples.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 220 * i) / 16000)), i * 2);
  return wavHeader(16000, 1, 16, samples);
}

describe('uploads stop before the spool fills the disk (real server)', () => {
  it('answers 503 naming the disk once free space would fall under UPLOAD_DISK_RESERVE_MB, leaving nothing', async () => {
    const spoolParent = mkdtempSync(join(tmpdir(), 'vs-spool-disk-'));
    // A reserve no disk has: every upload is over it, which is what a nearly full disk looks like.
    const server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      TMPDIR: spoolParent,
      UPLOAD_DISK_RESERVE_MB: '100000000',
    });
    try {
      const base = server.url('asr');
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(readyWav())]), 'a.wav');
      const response = await request(`${base}/v1/audio/transcriptions`, { method: 'POST', body: form });
      const text = await response.body.text();
      assert.equal(response.statusCode, 503, text);
      assert.match(text, /Resource threshold exceeded \(disk: \d+%\)/);
      assert.ok(Number(response.headers['retry-after']) > 0, 'Retry-After');
      const health = await detailedHealth(base);
      assert.equal(health.concurrency.active_requests, 0);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(readdirSync(join(spoolParent, `voice-stack-uploads-${server.child.pid}`)), []);
    } finally {
      await server.stop();
      rmSync(spoolParent, { recursive: true, force: true });
    }
  });
});
