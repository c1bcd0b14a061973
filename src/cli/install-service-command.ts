/**
 * `voice-stack install-service asr|tts` and `uninstall-service asr|tts`: write a
 * systemd unit that runs this installed CLI, then enable and start it. `--dry-run`
 * prints the unit and changes nothing.
 */
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parse as parseDotenv } from 'dotenv';
import { expandHome, MODEL_CACHE_DIR_DEFAULT_SETTING } from '../core/models/cache-dir.js';
import { runInteractive } from '../core/run-process.js';
import { parseSettings, type ServiceName, SettingsError } from '../core/settings.js';
import { renderSystemdUnit, unitName } from '../ops/systemd-unit.js';

interface InstallFlags {
  readonly user?: boolean;
  readonly envFile?: string;
  readonly dryRun?: boolean;
  readonly runAs?: string;
  readonly unitDir?: string;
  /** commander turns `--no-start` into `start: false`. */
  readonly start?: boolean;
}

interface Account {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/** The CLI this module belongs to: the unit runs exactly the voice-stack that installed it. */
const CLI_PATH = fileURLToPath(new URL('./main.js', import.meta.url));

export function registerInstallServiceCommands(program: Command): void {
  withUnitOptions(
    program
      .command('install-service')
      .description('write a systemd unit for a service, then enable and start it')
      .argument('<service>', 'asr or tts')
      .option('--user', 'a user unit (systemctl --user) instead of a system one')
      .option(
        '--env-file <path>',
        'the .env the service reads (create it first: Node 20 checks the flag too)',
        '.env',
      )
      .option('--dry-run', 'print the unit and change nothing')
      .option('--run-as <user>', 'account a system unit runs as (default: $SUDO_USER or you)'),
  ).action((service: string, flags: InstallFlags) => install(program, parseService(program, service), flags));
  withUnitOptions(
    program
      .command('uninstall-service')
      .description('stop, disable and remove the systemd unit of a service')
      .argument('<service>', 'asr or tts')
      .option('--user', 'the user unit (systemctl --user)')
      .option('--dry-run', 'print what would be removed and change nothing'),
  ).action((service: string, flags: InstallFlags) => uninstall(parseService(program, service), flags));
}

/** For packagers and tests: write elsewhere, and leave systemctl alone. */
function withUnitOptions(command: Command): Command {
  return command
    .option(
      '--unit-dir <dir>',
      'folder for the unit file (default: the systemd folder for system or user units)',
    )
    .option('--no-start', 'write or remove the unit file only; do not run systemctl');
}

function parseService(program: Command, service: string): ServiceName {
  if (service !== 'asr' && service !== 'tts')
    program.error(`unknown service '${service}': expected asr or tts`);
  return service as ServiceName;
}

function install(program: Command, service: ServiceName, flags: InstallFlags): void {
  const envFile = resolve(flags.envFile ?? '.env');
  const account = flags.user ? currentAccount() : runAsAccount(program, flags.runAs);
  const { modelCacheDir, shutdownGraceSeconds } = unitSettings(envFile, account.home);
  const unit = renderSystemdUnit({
    service,
    nodePath: process.execPath,
    cliPath: CLI_PATH,
    envFile,
    workingDirectory: dirname(envFile),
    modelCacheDir,
    shutdownGraceSeconds,
    userUnit: flags.user === true,
    runAs: flags.user ? undefined : account.name,
  });
  if (flags.dryRun) {
    process.stdout.write(unit);
    return;
  }
  const unitPath = join(flags.unitDir ?? defaultUnitDir(flags.user === true), unitName(service));
  mkdirSync(dirname(unitPath), { recursive: true });
  writeFileSync(unitPath, unit);
  // ProtectSystem=strict cannot bind a folder that does not exist, and the service could not create it.
  ensureOwnedDir(modelCacheDir, account);
  process.stdout.write(`Wrote ${unitPath}\n`);
  if (flags.start === false) return;
  systemctl(flags.user === true, ['daemon-reload']);
  systemctl(flags.user === true, ['enable', '--now', unitName(service)]);
  const journal = flags.user ? 'journalctl --user' : 'journalctl';
  process.stdout.write(`Started ${unitName(service)}. Logs: ${journal} -u voice-stack-${service} -f\n`);
}

function uninstall(service: ServiceName, flags: InstallFlags): void {
  const unitPath = join(flags.unitDir ?? defaultUnitDir(flags.user === true), unitName(service));
  if (flags.dryRun) {
    process.stdout.write(`Would stop and disable ${unitName(service)} and remove ${unitPath}\n`);
    return;
  }
  if (flags.start !== false) systemctl(flags.user === true, ['disable', '--now', unitName(service)]);
  const existed = existsSync(unitPath);
  rmSync(unitPath, { force: true });
  if (flags.start !== false) systemctl(flags.user === true, ['daemon-reload']);
  process.stdout.write(existed ? `Removed ${unitPath}\n` : `${unitPath} was not installed.\n`);
}

/**
 * The settings the unit depends on, read from the `.env` alone: under systemd the
 * installer's shell environment is gone. `~` is the home of the account the
 * service runs as, and relative paths start at the unit's working directory.
 */
function unitSettings(envFile: string, home: string) {
  const fileEnv = existsSync(envFile) ? parseDotenv(readFileSync(envFile)) : {};
  const rawCache = fileEnv.MODEL_CACHE_DIR?.trim() || MODEL_CACHE_DIR_DEFAULT_SETTING;
  let modelCacheDir = expandHome(rawCache, home);
  if (!isAbsolute(modelCacheDir)) modelCacheDir = resolve(dirname(envFile), modelCacheDir);
  try {
    const settings = parseSettings({ ...fileEnv, MODEL_CACHE_DIR: modelCacheDir });
    return { modelCacheDir: settings.modelCacheDir, shutdownGraceSeconds: settings.shutdownGraceSeconds };
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    process.stderr.write(`voice-stack: ${envFile}: ${error.message}\n`);
    process.exit(2);
  }
}

function defaultUnitDir(userUnit: boolean): string {
  if (!userUnit) return '/etc/systemd/system';
  const configHome = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(configHome, 'systemd', 'user');
}

function currentAccount(): Account {
  const info = userInfo();
  return { name: info.username, uid: info.uid, gid: info.gid, home: info.homedir };
}

/** Under sudo the service should run as the person who typed it, not as root. */
function runAsAccount(program: Command, requested: string | undefined): Account {
  const name = requested ?? process.env.SUDO_USER ?? userInfo().username;
  const account = lookupAccount(name);
  if (account === undefined) program.error(`unknown user '${name}' (--run-as)`);
  return account;
}

function lookupAccount(name: string): Account | undefined {
  const passwd = existsSync('/etc/passwd') ? readFileSync('/etc/passwd', 'utf8') : '';
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid, , home] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined && home !== undefined) {
      return { name, uid: Number(uid), gid: Number(gid), home };
    }
  }
  return undefined;
}

function ensureOwnedDir(path: string, account: Account): void {
  if (existsSync(path)) return;
  mkdirSync(path, { recursive: true });
  // Created by root for another account, it must still be that account's to write.
  if (process.getuid?.() === 0 && account.uid !== 0) chownSync(path, account.uid, account.gid);
}

function systemctl(userUnit: boolean, args: string[]): void {
  const fullArgs = userUnit ? ['--user', ...args] : args;
  const outcome = runInteractive('systemctl', fullArgs);
  if (outcome !== 'ok') {
    const detail = outcome === 'not-found' ? 'systemctl not found' : 'it failed';
    process.stderr.write(
      `voice-stack: 'systemctl ${fullArgs.join(' ')}' did not succeed (${detail}). ` +
        'The unit file is written; run the command yourself once systemd is available.\n',
    );
    process.exit(1);
  }
}
