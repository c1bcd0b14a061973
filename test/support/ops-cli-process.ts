import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CLI_PATH } from './service-process.js';

/** The real CLI once it wires the operations commands; until then a CLI with only them. */
const OPS_CLI_PATH = fileURLToPath(new URL('./ops-cli.js', import.meta.url));

function cliWithOpsCommands(): string {
  const help = spawnSync(process.execPath, [CLI_PATH, '--help'], { encoding: 'utf8' });
  return help.stdout.includes('install-service') && help.stdout.includes('doctor') ? CLI_PATH : OPS_CLI_PATH;
}

export const OPS_CLI = cliWithOpsCommands();

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `voice-stack ARGS` to completion with a clean environment plus `env`. */
export function runCli(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): CliResult {
  const result = spawnSync(process.execPath, [OPS_CLI, ...args], {
    cwd: options.cwd,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      VOICE_STACK_ENV_FILE: '/nonexistent/.env',
      // Where a test run points Node at extra packages (e.g. one not yet in node_modules).
      ...(process.env.NODE_PATH === undefined ? {} : { NODE_PATH: process.env.NODE_PATH }),
      ...options.env,
    },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
