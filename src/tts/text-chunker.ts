/**
 * Splits input text into the pieces that are synthesised (and streamed) one at a
 * time: sentences, and inside a sentence longer than the limit, clauses, then words.
 * Short chunks keep the first audio early and bound each inference call.
 */

/** Default upper bound on a chunk, in characters: a long sentence, a few seconds of speech. */
export const DEFAULT_MAX_CHUNK_CHARS = 300;

/** Words after which a period does not end a sentence. */
const NON_TERMINAL = new Set([
  'mr',
  'mrs',
  'ms',
  'dr',
  'prof',
  'st',
  'jr',
  'sr',
  'vs',
  'etc',
  'e.g',
  'i.e',
  'no',
  'approx',
  'a.m',
  'p.m',
  'fig',
  'inc',
  'ltd',
  'co',
]);

/** Sentences, with their closing punctuation; splits after . ! ? … (and CJK stops) followed by space. */
export function splitSentences(text: string): string[] {
  const sentences: string[] = [];
  const boundary = /([.!?…。！？]+["')\]]*)(\s+|$)/g;
  let start = 0;
  for (let match = boundary.exec(text); match !== null; match = boundary.exec(text)) {
    const end = match.index + (match[1] as string).length;
    if (match[1] === '.' && !endsSentence(text.slice(start, match.index), text.slice(end))) continue;
    pushTrimmed(sentences, text.slice(start, end));
    start = end;
  }
  pushTrimmed(sentences, text.slice(start));
  return sentences;
}

/** A single period after an abbreviation, an initial or before a lower-case word is not an end. */
function endsSentence(before: string, after: string): boolean {
  const lastWord = /([A-Za-z.]+)$/.exec(before)?.[1]?.toLowerCase() ?? '';
  if (NON_TERMINAL.has(lastWord)) return false;
  if (/(^|\s)[A-Z]$/.test(before)) return false;
  return !/^\s+[a-z]/.test(after);
}

function pushTrimmed(out: string[], piece: string): void {
  const trimmed = piece.trim();
  if (trimmed.length > 0) out.push(trimmed);
}

/** Cuts a piece longer than `max` at clause punctuation, else at spaces, else hard. */
function splitLong(piece: string, max: number): string[] {
  if (piece.length <= max) return [piece];
  const out: string[] = [];
  let rest = piece;
  while (rest.length > max) {
    const window = rest.slice(0, max + 1);
    const cut = lastBreak(window, /[,;:—–](?=\s)/g) ?? lastBreak(window, /\s/g) ?? max;
    pushTrimmed(out, rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  pushTrimmed(out, rest);
  return out;
}

/** The index just after the last match in the second half of `window`. */
function lastBreak(window: string, pattern: RegExp): number | undefined {
  let found: number | undefined;
  for (let match = pattern.exec(window); match !== null; match = pattern.exec(window)) {
    const after = match.index + match[0].length;
    if (after >= window.length / 2 && after < window.length) found = after;
  }
  return found;
}

/** The chunks to synthesise, in order; none longer than `maxChars`. */
export function chunkText(text: string, maxChars = DEFAULT_MAX_CHUNK_CHARS): string[] {
  return splitSentences(text.replace(/\s+/g, ' ')).flatMap((sentence) => splitLong(sentence, maxChars));
}
