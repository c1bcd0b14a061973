/**
 * The text of a `voice-stack-asr.service` / `voice-stack-tts.service` unit. Pure:
 * every path comes in through the options, so tests can render and verify a unit
 * without touching the machine's systemd.
 */
import type { ServiceName } from '../core/settings.js';

export interface SystemdUnitOptions {
  readonly service: ServiceName;
  /** The Node binary that runs the CLI (absolute). */
  readonly nodePath: string;
  /** The installed CLI script, `…/dist/src/cli/main.js` (absolute). */
  readonly cliPath: string;
  /** The `.env` the service reads (absolute); it need not exist yet. */
  readonly envFile: string;
  readonly workingDirectory: string;
  /** MODEL_CACHE_DIR: the one place the sandboxed service may write. */
  readonly modelCacheDir: string;
  readonly shutdownGraceSeconds: number;
  /** A user unit (`systemctl --user`) rather than a system one. */
  readonly userUnit: boolean;
  /** The account a system unit runs as; omitted for user units (they run as their owner). */
  readonly runAs?: string | undefined;
}

/** Extra time after the drain grace period for unloading models and exiting. */
export const STOP_MARGIN_SECONDS = 15;

export function unitName(service: ServiceName): string {
  return `voice-stack-${service}.service`;
}

/** systemd stops a service after TimeoutStopSec: it must outlast the drain. */
export function timeoutStopSeconds(shutdownGraceSeconds: number): number {
  return Math.ceil(shutdownGraceSeconds) + STOP_MARGIN_SECONDS;
}

export function renderSystemdUnit(options: SystemdUnitOptions): string {
  const label = options.service.toUpperCase();
  const lines = [
    '# Written by `voice-stack install-service`; re-run it rather than editing by hand.',
    '[Unit]',
    `Description=Voice Stack ${label} service`,
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    ...(options.runAs === undefined ? [] : [`User=${options.runAs}`]),
    `WorkingDirectory=${pathValue(options.workingDirectory)}`,
    // `-`: a missing .env means defaults, as it does for `voice-stack serve`.
    `EnvironmentFile=-${pathValue(options.envFile)}`,
    `Environment=${quoteArg(`VOICE_STACK_ENV_FILE=${options.envFile}`)}`,
    'Environment=NODE_ENV=production',
    `ExecStart=${[options.nodePath, options.cliPath, 'serve', options.service].map(quoteArg).join(' ')}`,
    'Restart=on-failure',
    'RestartSec=5',
    // SIGTERM starts the drain; systemd kills only after the grace period and the unload.
    'KillSignal=SIGTERM',
    `TimeoutStopSec=${timeoutStopSeconds(options.shutdownGraceSeconds)}`,
    'StandardOutput=journal',
    'StandardError=journal',
    `SyslogIdentifier=voice-stack-${options.service}`,
    ...sandboxLines(options.modelCacheDir),
    '',
    '[Install]',
    `WantedBy=${options.userUnit ? 'default.target' : 'multi-user.target'}`,
    '',
  ];
  return lines.join('\n');
}

/**
 * Read-only system and home, writable model cache. Not PrivateDevices (CUDA needs
 * /dev/nvidia*) and not MemoryDenyWriteExecute (V8's JIT writes code pages).
 */
function sandboxLines(modelCacheDir: string): string[] {
  return [
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=read-only',
    `ReadWritePaths=${pathValue(modelCacheDir)}`,
    'PrivateTmp=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectControlGroups=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
  ];
}

/** `%` starts a specifier in every unit value; `%%` is a literal percent sign. */
function escapeSpecifiers(value: string): string {
  return value.replaceAll('%', '%%');
}

/** Path settings take one unquoted path: systemd splits them only on whitespace it is told to. */
function pathValue(path: string): string {
  if (/\s/.test(path)) throw new Error(`systemd path settings cannot hold whitespace: '${path}'`);
  return escapeSpecifiers(path);
}

/** One word of ExecStart / Environment: double-quoted when it has spaces or quotes. */
function quoteArg(arg: string): string {
  const escaped = escapeSpecifiers(arg);
  if (!/[\s"'\\;$]/.test(escaped)) return escaped;
  return `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('$', '$$')}"`;
}
