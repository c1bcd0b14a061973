/**
 * Rewrites English text so that a phonemiser reads it as a person would: money,
 * percentages, times, years, ordinals, decimals and plain numbers become words, and
 * common abbreviations are expanded. espeak-ng knows some of this, but not the same
 * way in every voice, and Kokoro/Piper were trained on text normalised like this.
 */
import { digitsToWords, integerToWords, ordinalToWords, yearToWords } from './number-words.js';

/** Abbreviations read the same wherever they stand (the period is part of them). */
const ABBREVIATIONS: [RegExp, string][] = [
  [/\bDr\.(?=\s+[A-Z])/g, 'Doctor'],
  [/\bMr\./g, 'Mister'],
  [/\bMrs\./g, 'Missus'],
  [/\bMs\./g, 'Miz'],
  [/\bProf\.(?=\s+[A-Z])/g, 'Professor'],
  [/\bSt\.(?=\s+[A-Z])/g, 'Saint'],
  [/\bJr\./g, 'Junior'],
  [/\bSr\./g, 'Senior'],
  [/\bvs\./gi, 'versus'],
  [/\be\.g\./gi, 'for example'],
  [/\bi\.e\./gi, 'that is'],
  [/\betc\.(?=\s+[a-z]|\s*$|\s*[,;:])/g, 'et cetera'],
  [/\betc\./g, 'et cetera.'],
  [/\bapprox\./gi, 'approximately'],
  [/\bNo\.(?=\s*\d)/g, 'number'],
  [/\ba\.m\./gi, 'A M'],
  [/\bp\.m\./gi, 'P M'],
];

const CURRENCIES: Record<string, [string, string, string, string]> = {
  $: ['dollar', 'dollars', 'cent', 'cents'],
  '£': ['pound', 'pounds', 'penny', 'pence'],
  '€': ['euro', 'euros', 'cent', 'cents'],
};

function money(
  symbol: string,
  whole: string,
  fraction: string | undefined,
  scale: string | undefined,
): string {
  const [one, many, coin, coins] = CURRENCIES[symbol] ?? ['', '', '', ''];
  const amount = whole.replaceAll(',', '');
  if (scale) return `${integerToWords(amount)} ${scale} ${many}`;
  const unit = amount === '1' ? one : many;
  let words = `${integerToWords(amount)} ${unit}`;
  const cents = fraction ? Number(fraction.padEnd(2, '0').slice(0, 2)) : 0;
  if (cents > 0) words += ` and ${integerToWords(String(cents))} ${cents === 1 ? coin : coins}`;
  return words;
}

function time(hours: string, minutes: string, suffix: string | undefined): string {
  const m = Number(minutes);
  const spokenMinutes =
    m === 0
      ? suffix
        ? ''
        : " o'clock"
      : m < 10
        ? ` oh ${integerToWords(minutes)}`
        : ` ${integerToWords(minutes)}`;
  const spokenSuffix = suffix ? ` ${suffix.replaceAll('.', '').toUpperCase().split('').join(' ')}` : '';
  return `${integerToWords(hours)}${spokenMinutes}${spokenSuffix}`;
}

function decimal(whole: string, fraction: string): string {
  return `${integerToWords(whole.replaceAll(',', '') || '0')} point ${digitsToWords(fraction)}`;
}

/** Numbers, from the most specific shapes to plain integers. */
function normalizeNumbers(text: string): string {
  return text
    .replace(
      /([$£€])(\d[\d,]*)(?:\.(\d+))?(?:\s+(thousand|million|billion|trillion))?\b/g,
      (_m, symbol: string, whole: string, fraction: string | undefined, scale: string | undefined) =>
        money(symbol, whole, fraction, scale),
    )
    .replace(/\b(\d+(?:\.\d+)?)\s?%/g, (_m, n: string) => `${normalizeNumbers(n)} percent`)
    .replace(
      /\b([01]?\d|2[0-3]):([0-5]\d)(?:\s?([ap]\.?m\.?))?(?=\W|$)/gi,
      (_m, h: string, m: string, s?: string) => time(h, m, s),
    )
    .replace(/\b(1[1-9]\d\d|20\d\d)s\b/g, (_m, y: string) => `${yearToWords(Number(y)).replace(/y$/, 'ie')}s`)
    .replace(/\b(1[1-9]\d\d|20\d\d)\b(?![.,]\d)/g, (_m, y: string) => yearToWords(Number(y)))
    .replace(/\b(\d+)(?:st|nd|rd|th)\b/gi, (_m, n: string) => ordinalToWords(n))
    .replace(/(\d)-(?=\d)/g, '$1 to ')
    .replace(/\b(\d[\d,]*)\.(\d+)\b/g, (_m, whole: string, fraction: string) => decimal(whole, fraction))
    .replace(/\b\d{1,3}(?:,\d{3})+\b/g, (n) => integerToWords(n.replaceAll(',', '')))
    .replace(/\b\d+\b/g, (n) => integerToWords(n));
}

export function normalizeEnglish(text: string): string {
  let out = text.replace(/[\u2018\u2019]/g, "'").replace(/[\u201c\u201d]/g, '"');
  for (const [pattern, replacement] of ABBREVIATIONS) out = out.replace(pattern, replacement);
  out = normalizeNumbers(out);
  return out.replace(/\s+/g, ' ').trim();
}

export function isEnglish(language: string): boolean {
  return language.toLowerCase().startsWith('en');
}
