/** Whisper's languages: ISO 639-1 code → English name, as Bazarr and whisper report them. */
export const WHISPER_LANGUAGES: Readonly<Record<string, string>> = {
  en: 'english',
  zh: 'chinese',
  de: 'german',
  es: 'spanish',
  ru: 'russian',
  ko: 'korean',
  fr: 'french',
  ja: 'japanese',
  pt: 'portuguese',
  tr: 'turkish',
  pl: 'polish',
  ca: 'catalan',
  nl: 'dutch',
  ar: 'arabic',
  sv: 'swedish',
  it: 'italian',
  id: 'indonesian',
  hi: 'hindi',
  fi: 'finnish',
  vi: 'vietnamese',
  he: 'hebrew',
  uk: 'ukrainian',
  el: 'greek',
  ms: 'malay',
  cs: 'czech',
  ro: 'romanian',
  da: 'danish',
  hu: 'hungarian',
  ta: 'tamil',
  no: 'norwegian',
  th: 'thai',
  ur: 'urdu',
  hr: 'croatian',
  bg: 'bulgarian',
  lt: 'lithuanian',
  la: 'latin',
  mi: 'maori',
  ml: 'malayalam',
  cy: 'welsh',
  sk: 'slovak',
  te: 'telugu',
  fa: 'persian',
  lv: 'latvian',
  bn: 'bengali',
  sr: 'serbian',
  az: 'azerbaijani',
  sl: 'slovenian',
  kn: 'kannada',
  et: 'estonian',
  mk: 'macedonian',
  br: 'breton',
  eu: 'basque',
  is: 'icelandic',
  hy: 'armenian',
  ne: 'nepali',
  mn: 'mongolian',
  bs: 'bosnian',
  kk: 'kazakh',
  sq: 'albanian',
  sw: 'swahili',
  gl: 'galician',
  mr: 'marathi',
  pa: 'punjabi',
  si: 'sinhala',
  km: 'khmer',
  sn: 'shona',
  yo: 'yoruba',
  so: 'somali',
  af: 'afrikaans',
  oc: 'occitan',
  ka: 'georgian',
  be: 'belarusian',
  tg: 'tajik',
  sd: 'sindhi',
  gu: 'gujarati',
  am: 'amharic',
  yi: 'yiddish',
  lo: 'lao',
  uz: 'uzbek',
  fo: 'faroese',
  ht: 'haitian creole',
  ps: 'pashto',
  tk: 'turkmen',
  nn: 'nynorsk',
  mt: 'maltese',
  sa: 'sanskrit',
  lb: 'luxembourgish',
  my: 'myanmar',
  bo: 'tibetan',
  tl: 'tagalog',
  mg: 'malagasy',
  as: 'assamese',
  tt: 'tatar',
  haw: 'hawaiian',
  ln: 'lingala',
  ha: 'hausa',
  ba: 'bashkir',
  jw: 'javanese',
  su: 'sundanese',
  yue: 'cantonese',
};

/** Names that Whisper's own tokenizer also accepts (openai/whisper tokenizer.py TO_LANGUAGE_CODE). */
const WHISPER_NAME_ALIASES: Readonly<Record<string, string>> = {
  burmese: 'my',
  valencian: 'ca',
  flemish: 'nl',
  haitian: 'ht',
  letzeburgesch: 'lb',
  pushto: 'ps',
  panjabi: 'pa',
  moldavian: 'ro',
  moldovan: 'ro',
  sinhalese: 'si',
  castilian: 'es',
  mandarin: 'zh',
  filipino: 'tl',
};

/**
 * Whisper's codes by the language ICU canonicalises them to: `tl` is `fil` and `jw` is
 * `jv` to ICU, and Bokmål (`nb`) is what Whisper calls Norwegian (`no`).
 */
const CODE_BY_CANONICAL = new Map<string, string>([
  ...Object.keys(WHISPER_LANGUAGES).map((code): [string, string] => [canonicalLanguage(code) ?? code, code]),
  ['nb', 'no'],
]);

const CODE_BY_NAME = new Map<string, string>([
  ...Object.entries(WHISPER_LANGUAGES).map(([code, name]): [string, string] => [name, code]),
  ...englishDisplayNames(),
  ...Object.entries(WHISPER_NAME_ALIASES),
]);

/** ICU's canonical language subtag of a BCP-47 tag (`iw`→`he`, `eng`→`en`), or undefined. */
function canonicalLanguage(tag: string): string | undefined {
  try {
    return new Intl.Locale(tag).language;
  } catch {
    return undefined;
  }
}

/** ICU's English name of each Whisper language (`Filipino`, `Norwegian Bokmål`, `Cantonese`). */
function englishDisplayNames(): [string, string][] {
  const names = new Intl.DisplayNames(['en'], { type: 'language', fallback: 'none' });
  const entries: [string, string][] = [];
  for (const code of Object.keys(WHISPER_LANGUAGES)) {
    const name = names.of(canonicalLanguage(code) ?? code);
    if (name !== undefined) entries.push([name.toLowerCase(), code]);
  }
  entries.push(['norwegian bokmål', 'no']);
  return entries;
}

/**
 * Accepts a Whisper code (`en`, `jw`, `haw`), a BCP-47 tag in any case and with `_`
 * or `-` (`en-US`, `pt_BR`, `zh-Hant`, `fil-PH`, ISO 639-2/3 `eng`, deprecated `iw`),
 * or an English name (`English`, `Filipino`), and returns Whisper's code, or undefined.
 */
export function normaliseLanguage(value: string): string | undefined {
  const lower = value.trim().toLowerCase();
  if (Object.hasOwn(WHISPER_LANGUAGES, lower)) return lower;
  const byName = CODE_BY_NAME.get(lower.replace(/\s+/g, ' '));
  if (byName !== undefined) return byName;
  const canonical = canonicalLanguage(lower.replaceAll('_', '-'));
  return canonical === undefined ? undefined : CODE_BY_CANONICAL.get(canonical);
}

export function languageName(code: string): string {
  return WHISPER_LANGUAGES[code] ?? code;
}
