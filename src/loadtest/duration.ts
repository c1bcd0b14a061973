const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** Parses `500ms`, `30s`, `5m`, `1h` or a bare number of seconds into seconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!match?.[1]) throw new Error(`invalid duration "${text}" (use e.g. 30s, 5m, 500ms)`);
  const value = Number(match[1]) * (UNIT_SECONDS[match[2] ?? 's'] ?? 1);
  if (!(value > 0)) throw new Error(`duration must be positive: "${text}"`);
  return value;
}

/** Seconds with two decimals and an `s`, the form the docs/LOAD_TESTING.md summary uses. */
export function formatSeconds(seconds: number): string {
  return `${seconds.toFixed(2)}s`;
}

/** Milliseconds, shown in the unit a person reads fastest. */
export function formatMs(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(0)}µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 1)}ms`;
  return formatSeconds(ms / 1000);
}
