import { readFileSync } from 'node:fs';

/** The package's version, read from package.json beside dist/. */
export function packageVersion(): string {
  const path = new URL('../../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}
