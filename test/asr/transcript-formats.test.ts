import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Transcript } from '../../src/asr/engines/asr-engine.js';
import { normaliseLanguage } from '../../src/asr/languages.js';
import {
  formatBazarr,
  formatOpenAi,
  subtitleCues,
  timestamp,
  toSrt,
  toTsv,
  toVtt,
} from '../../src/asr/transcript-formats.js';

const segment = (id: number, start: number, end: number, text: string) => ({
  id,
  start,
  end,
  text,
  tokens: [1, 2],
  avgLogprob: -0.3,
  noSpeechProb: 0.01,
});

const transcript: Transcript = {
  language: 'en',
  duration: 3725.5,
  text: 'Hello there. General Kenobi.',
  segments: [
    segment(0, 0, 1.5, ' Hello there.'),
    segment(1, 1.4, 3725.25, ' General Kenobi.'),
    segment(2, 3725.25, 3725.3, ' '),
  ],
};

describe('transcript formats', () => {
  it('writes SRT and VTT timestamps', () => {
    assert.equal(timestamp(3725.25, ','), '01:02:05,250');
    assert.equal(timestamp(0.0004, '.'), '00:00:00.000');
    assert.equal(timestamp(59.9996, '.'), '00:01:00.000');
  });

  it('makes cues monotonic and drops empty ones', () => {
    const cues = subtitleCues(transcript.segments);
    assert.equal(cues.length, 2);
    assert.equal(cues[1]?.start, 1.5, 'an overlapping start moves to the previous end');
  });

  it('lays out SRT, VTT and TSV', () => {
    assert.equal(
      toSrt(transcript),
      '1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n00:00:01,500 --> 01:02:05,250\nGeneral Kenobi.\n',
    );
    assert.ok(toVtt(transcript).startsWith('WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n'));
    assert.equal(
      toTsv(transcript),
      'start\tend\ttext\n0\t1500\tHello there.\n1500\t3725250\tGeneral Kenobi.\n',
    );
  });

  it('verbose_json carries language name, duration, segments and words only when asked', () => {
    const plain = formatOpenAi(transcript, 'verbose_json', {
      task: 'transcribe',
      words: false,
      temperature: 0,
    });
    const body = plain.body as Record<string, unknown>;
    assert.equal(body.language, 'english');
    assert.equal(body.duration, 3725.5);
    assert.equal((body.segments as unknown[]).length, 3);
    assert.equal('words' in body, false);
    const withWords = formatOpenAi(transcript, 'verbose_json', {
      task: 'transcribe',
      words: true,
      temperature: 0,
    });
    assert.ok(Array.isArray((withWords.body as Record<string, unknown>).words));
  });

  it('writes Bazarr jsonl one segment per line', () => {
    const jsonl = formatBazarr(transcript, 'jsonl', 'transcribe').body as string;
    const lines = jsonl.trim().split('\n');
    assert.equal(lines.length, 3);
    assert.equal(JSON.parse(lines[0] ?? '').text, ' Hello there.');
  });

  it('accepts language codes and names', () => {
    assert.equal(normaliseLanguage('EN'), 'en');
    assert.equal(normaliseLanguage('German'), 'de');
    assert.equal(normaliseLanguage('xx'), undefined);
  });
});
