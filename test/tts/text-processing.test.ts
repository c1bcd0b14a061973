import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitTokens } from '../../src/tts/engines/kokoro.js';
import { KOKORO_VOCAB, kokoroTokens } from '../../src/tts/engines/kokoro-vocab.js';
import { phonemesToIds } from '../../src/tts/engines/piper-voice.js';
import { normalizeEnglish } from '../../src/tts/english-normalizer.js';
import { clausePunctuation, joinClauses, phonemize } from '../../src/tts/espeak-phonemizer.js';
import { integerToWords, ordinalToWords, yearToWords } from '../../src/tts/number-words.js';
import { chunkText, splitSentences } from '../../src/tts/text-chunker.js';
import { piperPhonemeIdMap } from '../../tools/gen-tts-models.js';

describe('sentence chunking', () => {
  it('splits at sentence ends, keeping the punctuation', () => {
    assert.deepEqual(splitSentences('Hello there. How are you? Fine! Bye…'), [
      'Hello there.',
      'How are you?',
      'Fine!',
      'Bye…',
    ]);
  });

  it('does not split after abbreviations, initials or before a lower-case word', () => {
    assert.deepEqual(splitSentences('Dr. Smith met Mr. J. Jones at 5 p.m. today. He left.'), [
      'Dr. Smith met Mr. J. Jones at 5 p.m. today.',
      'He left.',
    ]);
    assert.deepEqual(splitSentences('Version 2. is out. e.g. this one.'), [
      'Version 2. is out. e.g. this one.',
    ]);
  });

  it('cuts a long sentence at clause punctuation, then at spaces, never above the limit', () => {
    const sentence = `${'word '.repeat(30)}, ${'more '.repeat(30)}and the end.`;
    const chunks = chunkText(sentence, 200);
    assert.ok(chunks.length >= 2);
    for (const chunk of chunks) assert.ok(chunk.length <= 200, chunk);
    assert.ok(chunks[0]?.endsWith(','), `first piece ends at the comma: ${chunks[0]}`);
    const unbroken = 'x'.repeat(450);
    assert.deepEqual(
      chunkText(unbroken, 200).map((c) => c.length),
      [200, 200, 50],
    );
  });
});

describe('English normalisation', () => {
  it('reads numbers, years, ordinals, money, percentages and times', () => {
    assert.equal(integerToWords('1234'), 'one thousand two hundred thirty-four');
    assert.equal(integerToWords('1000000'), 'one million');
    assert.equal(yearToWords(1999), 'nineteen ninety-nine');
    assert.equal(yearToWords(2005), 'two thousand five');
    assert.equal(yearToWords(1900), 'nineteen hundred');
    assert.equal(ordinalToWords('21'), 'twenty-first');
    assert.equal(ordinalToWords('12'), 'twelfth');
    assert.equal(
      normalizeEnglish('It cost $5.50 in 1999.'),
      'It cost five dollars and fifty cents in nineteen ninety-nine.',
    );
    assert.equal(normalizeEnglish('Up 12% at 10:30.'), 'Up twelve percent at ten thirty.');
    assert.equal(
      normalizeEnglish('The 3rd of 4,500 items.'),
      'The third of four thousand five hundred items.',
    );
    assert.equal(normalizeEnglish('Pi is 3.14'), 'Pi is three point one four');
    assert.equal(normalizeEnglish('Pages 10-12'), 'Pages ten to twelve');
  });

  it('expands common abbreviations', () => {
    assert.equal(
      normalizeEnglish('Dr. Smith and Mrs. Jones vs. Mr. Brown'),
      'Doctor Smith and Missus Jones versus Mister Brown',
    );
    assert.equal(
      normalizeEnglish('Fruit, e.g. apples, etc. are good'),
      'Fruit, for example apples, et cetera are good',
    );
  });
});

describe('phonemes to model ids', () => {
  it('puts the clause punctuation back after each espeak-ng line', () => {
    assert.deepEqual(clausePunctuation('Hi, you. Ok?'), [',', '.', '?']);
    assert.equal(joinClauses(['a', 'b', 'c'], [',', '.', '?']), 'a, b. c?');
    assert.equal(joinClauses(['a', 'b'], ['!']), 'a, b!');
  });

  it('phonemises with the real espeak-ng', async () => {
    const ipa = await phonemize('Hello world, how are you?', 'en-us', new AbortController().signal);
    assert.match(ipa, /h.*l.*w.*,.*\?$/);
    assert.ok(ipa.includes('ˈ'), `stress marks kept: ${ipa}`);
  });

  it('maps phonemes to Piper ids with BOS, interspersed pads and EOS', () => {
    const map = new Map(Object.entries(piperPhonemeIdMap()));
    assert.deepEqual(phonemesToIds('ab', map), [1, 0, 14, 0, 15, 0, 2]);
    assert.deepEqual(phonemesToIds('a☃b', map), [1, 0, 14, 0, 15, 0, 2], 'unknown symbols are skipped');
  });

  it('maps phonemes to Kokoro tokens and splits runs longer than the model takes', () => {
    assert.deepEqual(kokoroTokens('hə r'), [50, 83, 16, 123]);
    assert.equal(KOKORO_VOCAB.get('ˈ'), 156);
    const long = Array.from({ length: 700 }, (_, i) => (i % 10 === 9 ? 16 : 43));
    const parts = splitTokens(long);
    assert.equal(parts.flat().length, 700);
    for (const part of parts) assert.ok(part.length <= 510);
    assert.equal(parts[0]?.at(-1), 16, 'split after a space');
  });
});
