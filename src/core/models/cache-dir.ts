import { homedir } from 'node:os';
import { join } from 'node:path';

/** MODEL_CACHE_DIR's default as a user writes it: `~` is the home of the account the service runs as. */
export const MODEL_CACHE_DIR_DEFAULT_SETTING = '~/.cache/voice-stack';

/** `~` and `~/…` in a configured path, against `home` (this process's, unless the unit's account differs). */
export function expandHome(path: string, home: string = homedir()): string {
  return path === '~' || path.startsWith('~/') ? join(home, path.slice(1)) : path;
}

/** Where models live when nothing says otherwise. */
export const DEFAULT_MODEL_CACHE_DIR = expandHome(MODEL_CACHE_DIR_DEFAULT_SETTING);
