/**
 * Text → IPA phonemes with the espeak-ng program, the phonemiser both Piper and
 * Kokoro were trained with. espeak-ng prints one line per clause and drops the
 * punctuation, which the models use for pauses and intonation, so the clause
 * punctuation of the text is put back at the end of each line (as piper-phonemize
 * does with espeak's clause terminators).
 */
import { engineFailure, modelUnavailableError } from '../core/errors.js';
import { ProcessError, runProcess } from '../core/run-process.js';

const BINARY = 'espeak-ng';
const TIMEOUT_MS = 30_000;
const CLAUSE_PUNCTUATION = /[,;:.!?]+(?=\s|$)/g;

/** The clause marks in the order they appear: "Hi, you. Ok?" → [",", ".", "?"]. */
export function clausePunctuation(text: string): string[] {
  return [...text.matchAll(CLAUSE_PUNCTUATION)].map((m) => (m[0] as string).slice(-1));
}

/**
 * Joins espeak-ng's clause lines with the text's punctuation. When espeak split
 * the text differently from its punctuation (it also breaks at some abbreviations),
 * lines are joined with commas and the text's final mark ends the whole.
 */
export function joinClauses(lines: readonly string[], marks: readonly string[]): string {
  if (lines.length === 0) return '';
  const last = marks[marks.length - 1] ?? '.';
  const aligned = marks.length === lines.length;
  return lines
    .map((line, i) => {
      const isLast = i === lines.length - 1;
      const mark = aligned ? (marks[i] as string) : isLast ? last : ',';
      return `${line}${mark}`;
    })
    .join(' ');
}

export async function phonemize(text: string, espeakVoice: string, signal: AbortSignal): Promise<string> {
  try {
    const { stdout } = await runProcess(BINARY, ['-q', '--ipa', '-v', espeakVoice], {
      stdin: text,
      signal,
      timeoutMs: TIMEOUT_MS,
    });
    const lines = stdout
      .toString('utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.length > 0);
    return joinClauses(lines, clausePunctuation(text));
  } catch (error) {
    if (!signal.aborted && error instanceof ProcessError && error.kind === 'not_found') {
      throw modelUnavailableError(
        'espeak-ng',
        'espeak-ng is not installed; the neural voices use it to phonemise text (apt-get install espeak-ng)',
        error,
      );
    }
    throw engineFailure('espeak-ng', error, signal);
  }
}
