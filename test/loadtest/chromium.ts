import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tempDir } from './cli-harness.js';

const run = promisify(execFile);
export const CHROMIUM = '/usr/bin/chromium';

export interface PageCheck {
  consoleErrors: string[];
  dom: string;
}

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--enable-logging=stderr',
  '--v=0',
];

/** Opens a local page in headless Chromium, saves a screenshot, returns console errors and the rendered DOM. */
export async function openInChromium(htmlPath: string, screenshotPath: string): Promise<PageCheck> {
  const profile = await tempDir('vs-chromium-');
  try {
    const url = `file://${htmlPath}`;
    const shot = await run(
      CHROMIUM,
      [
        ...FLAGS,
        `--user-data-dir=${profile}`,
        '--window-size=1200,2600',
        `--screenshot=${screenshotPath}`,
        url,
      ],
      { timeout: 60_000 },
    );
    const dom = await run(CHROMIUM, [...FLAGS, `--user-data-dir=${profile}`, '--dump-dom', url], {
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    const consoleErrors = `${shot.stderr}\n${dom.stderr}`
      .split('\n')
      .filter((line) => /CONSOLE|Uncaught|ERROR:.*(console|javascript)/i.test(line));
    return { consoleErrors, dom: dom.stdout };
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}
