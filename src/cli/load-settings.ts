import { loadSettings, type Settings, SettingsError } from '../core/settings.js';

/** Settings for a command, or a clear message and exit status 2 when a value is bad. */
export function loadSettingsOrExit(): Settings {
  try {
    return loadSettings();
  } catch (error) {
    if (error instanceof SettingsError) {
      process.stderr.write(`voice-stack: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}
