/** English number words, for the text normaliser: 1234 → "one thousand two hundred thirty-four". */

const ONES = [
  'zero',
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'ten',
  'eleven',
  'twelve',
  'thirteen',
  'fourteen',
  'fifteen',
  'sixteen',
  'seventeen',
  'eighteen',
  'nineteen',
];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];
const SCALES: [bigint, string][] = [
  [1_000_000_000_000n, 'trillion'],
  [1_000_000_000n, 'billion'],
  [1_000_000n, 'million'],
  [1_000n, 'thousand'],
];

function underHundred(n: number): string {
  if (n < 20) return ONES[n] as string;
  const ten = TENS[Math.floor(n / 10)] as string;
  return n % 10 === 0 ? ten : `${ten}-${ONES[n % 10]}`;
}

function underThousand(n: number): string {
  if (n < 100) return underHundred(n);
  const rest = n % 100;
  const hundreds = `${ONES[Math.floor(n / 100)]} hundred`;
  return rest === 0 ? hundreds : `${hundreds} ${underHundred(rest)}`;
}

/** A whole number in words; digits are read one by one past the trillions. */
export function integerToWords(digits: string): string {
  const trimmed = digits.replace(/^0+(?=\d)/, '');
  if (trimmed.length > 15) return digitsToWords(trimmed);
  let n = BigInt(trimmed);
  if (n === 0n) return 'zero';
  const parts: string[] = [];
  for (const [scale, word] of SCALES) {
    if (n >= scale) {
      parts.push(`${underThousand(Number(n / scale))} ${word}`);
      n %= scale;
    }
  }
  if (n > 0n) parts.push(underThousand(Number(n)));
  return parts.join(' ');
}

export function digitsToWords(digits: string): string {
  return [...digits].map((d) => ONES[Number(d)] ?? d).join(' ');
}

/** Years are read in pairs: 1999 → "nineteen ninety-nine", 2005 → "two thousand five", 1900 → "nineteen hundred". */
export function yearToWords(year: number): string {
  if (year >= 2000 && year < 2010) return integerToWords(String(year));
  const high = Math.floor(year / 100);
  const low = year % 100;
  if (low === 0) return `${underHundred(high)} hundred`;
  const tail = low < 10 ? `oh ${ONES[low]}` : underHundred(low);
  return `${underHundred(high)} ${tail}`;
}

const ORDINAL_IRREGULAR: Record<string, string> = {
  one: 'first',
  two: 'second',
  three: 'third',
  five: 'fifth',
  eight: 'eighth',
  nine: 'ninth',
  twelve: 'twelfth',
};

/** 21 → "twenty-first". */
export function ordinalToWords(digits: string): string {
  const words = integerToWords(digits);
  const match = /([a-z]+)$/.exec(words);
  if (!match) return words;
  const last = match[1] as string;
  const head = words.slice(0, -last.length);
  const irregular = ORDINAL_IRREGULAR[last];
  if (irregular) return head + irregular;
  if (last.endsWith('y')) return `${head}${last.slice(0, -1)}ieth`;
  return `${head}${last}th`;
}
