/**
 * Default TTS inputs, from a word to a paragraph, so a run exercises short-request
 * overhead and long synthesis alike.
 */
export const DEFAULT_TTS_TEXTS: readonly string[] = [
  'Hello.',
  'The quick brown fox jumps over the lazy dog.',
  'Your appointment is confirmed for Tuesday at half past three in the afternoon.',
  'Welcome to the voice stack load test. This sentence is a little longer, so that the server has ' +
    'real synthesis work to do and the timing statistics mean something.',
  'Speech synthesis turns written text into audio. A self-hosted server has to keep its promises ' +
    'under load: it must limit how many requests run at once, queue the rest fairly, refuse work ' +
    'politely when memory runs short, and release its models when nobody needs them. This ' +
    'paragraph is long enough to take a noticeable amount of time to speak.',
];
