import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { wavHeader } from '../../src/audio/wav.js';
import { livePageHtml } from '../../src/web/live-page.js';
import { CHROMIUM } from '../loadtest/chromium.js';
import { outputDir, tempDir } from '../loadtest/cli-harness.js';
import { testWhisperModel } from '../support/fixtures.js';
import { http } from '../support/http.js';
import { phraseAudio, silence } from '../support/realtime-client.js';
import { ServiceProcess } from '../support/service-process.js';

const KEY = 'page-key';

/** What the fake microphone plays (Chromium loops it): two phrases with pauses, 24 kHz mono. */
async function microphoneWav(dir: string): Promise<string> {
  const pcm = Buffer.concat([
    silence(1),
    phraseAudio('Testing one two three.', 'rt-phrase-1'),
    silence(1.5),
    phraseAudio('The service transcribes this sentence.', 'rt-phrase-2'),
    silence(2),
  ]);
  const path = join(dir, 'microphone.wav');
  await writeFile(path, Buffer.concat([wavHeader(24_000, pcm.length), pcm]));
  return path;
}

async function typeKey(page: Page): Promise<void> {
  await page.waitForSelector('#api-key', { visible: true });
  await page.type('#api-key', KEY);
  await page.$eval('#api-key', (input) => input.dispatchEvent(new Event('change')));
}

describe('live pages in headless Chromium with a fake microphone (real services, API_KEY set)', () => {
  let server: ServiceProcess;
  let browser: Browser;
  let scratch: string;
  let wav: string;
  let shots: string;
  before(async () => {
    scratch = await tempDir('vs-live-page-');
    wav = await microphoneWav(scratch);
    shots = await outputDir('live-pages');
    server = await ServiceProcess.start(['serve'], { ASR_MODEL: await testWhisperModel(), API_KEY: KEY });
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-audio-capture=${wav}`,
        '--autoplay-policy=no-user-gesture-required',
      ],
    });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('GET / is open HTML on both services and says when a key is needed', async () => {
    for (const service of ['asr', 'tts'] as const) {
      const page = await http(`${server.url(service)}/`);
      assert.equal(page.status, 200);
      assert.match(String(page.headers['content-type']), /^text\/html/);
      assert.match(page.body.toString(), /name="voice-stack-auth" content="required"/);
      assert.match(page.body.toString(), /name="viewport"/, 'phone-sized');
    }
    assert.match(livePageHtml('asr', false), /content="none"/);
  });

  it('ASR: the microphone streams through the Realtime WebSocket and the transcript fills in live', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    try {
      await page.setViewport({ width: 412, height: 915, isMobile: true });
      await page.goto(`${server.url('asr')}/`);
      await page.click('#record');
      assert.match(await page.$eval('#status', (el) => el.textContent ?? ''), /API key/, 'asks for the key');
      await typeKey(page);
      await page.click('#record');
      // Live: an utterance shows while it is spoken or transcribed, before its text is final.
      await page.waitForSelector('.utterance.speaking, .utterance.pending', { timeout: 30_000 });
      await page.waitForSelector('.utterance.done', { timeout: 60_000 });
      const first = await page.$eval('.utterance.done', (el) => el.textContent ?? '');
      assert.ok(first.trim().length > 0, 'the transcript area has text');
      await page.screenshot({ path: join(shots, 'asr-live.png') });
      await page.click('#record');
      await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'Stopped.', {
        timeout: 30_000,
      });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  it('ASR: a chosen file is transcribed with stream=true', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url('asr')}/`);
      await typeKey(page);
      const input = await page.$('#file');
      assert.ok(input);
      await (input as unknown as { uploadFile(path: string): Promise<void> }).uploadFile(wav);
      await page.waitForSelector('.utterance.file.done', { timeout: 60_000 });
      const text = await page.$eval('.utterance.file.done', (el) => el.textContent ?? '');
      assert.ok(text.trim().length > 0);
      await page.screenshot({ path: join(shots, 'asr-file.png') });
    } finally {
      await page.close();
    }
  });

  it('TTS: pick a voice from /v1/audio/voices, and the speech plays as it streams', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    try {
      await page.setViewport({ width: 412, height: 915, isMobile: true });
      await page.goto(`${server.url('tts')}/`);
      await typeKey(page);
      await page.waitForSelector('body[data-voices]', { timeout: 20_000 });
      const voices = await page.$$eval('#voice option', (options) =>
        options.map((o) => (o as HTMLOptionElement).value),
      );
      assert.ok(voices.includes('alloy') && voices.includes('en-us'), voices.slice(0, 20).join(','));
      await page.select('#voice', 'alloy');
      await page.$eval('#text', (el) => {
        (el as HTMLTextAreaElement).value = 'One sentence first. Then another one. And a third to finish.';
      });
      await page.click('#speak');
      await page.waitForSelector('body[data-seconds]', { timeout: 30_000 });
      const played = await page.$eval('body', (body) => Number(body.dataset.chunksPlayed));
      const seconds = await page.$eval('body', (body) => Number(body.dataset.seconds));
      assert.ok(played >= 1, `${played} pieces played`);
      assert.ok(seconds > 1, `${seconds} s of audio`);
      assert.equal(await page.$eval('#replay', (el) => (el as HTMLAudioElement).hidden), false);
      assert.equal(await page.$eval('#voice', (el) => (el as HTMLSelectElement).value), 'alloy');
      await page.screenshot({ path: join(shots, 'tts-live.png') });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
});
