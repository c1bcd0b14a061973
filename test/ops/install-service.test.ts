import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { renderSystemdUnit, timeoutStopSeconds } from '../../src/ops/systemd-unit.js';
import { runCli } from '../support/ops-cli-process.js';
import { CLI_PATH } from '../support/service-process.js';

const work = mkdtempSync(join(tmpdir(), 'vs-units-'));
const envFile = join(work, 'voice.env');
const cacheDir = join(work, 'models');
writeFileSync(envFile, `MODEL_CACHE_DIR=${cacheDir}\nSHUTDOWN_GRACE_SECONDS=40\nTTS_PORT=5102\n`);

function dryRun(service: string, extra: string[] = []): string {
  const result = runCli(['install-service', service, '--env-file', envFile, '--dry-run', ...extra]);
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

/** Every `Key=value` line of a unit, in order. */
function directives(unit: string): Array<[string, string]> {
  return unit
    .split('\n')
    .filter((line) => /^[A-Za-z]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]);
}

function value(unit: string, key: string): string | undefined {
  return directives(unit).find(([k]) => k === key)?.[1];
}

/**
 * `systemd-analyze verify` exits 0 even for unknown keys: a unit passes only when
 * it also prints nothing. A probe with a trivial unit tells whether verify can run
 * here at all (a user manager needs a runtime folder).
 */
function verify(unitPath: string, user: boolean): { ok: boolean; output: string } {
  const runtimeDir = mkdtempSync(join(tmpdir(), 'vs-xdg-'));
  const result = spawnSync('systemd-analyze', [...(user ? ['--user'] : []), 'verify', unitPath], {
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir, SYSTEMD_LOG_COLOR: '0' },
  });
  if (result.error)
    throw new Error(`systemd-analyze not runnable (apt-get install systemd): ${result.error}`);
  const output = `${result.stdout}${result.stderr}`.trim();
  return { ok: result.status === 0 && output === '', output };
}

function writeUnit(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'vs-verify-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function verifierWorks(user: boolean): string | undefined {
  const probe = writeUnit('probe.service', '[Service]\nExecStart=/bin/true\n');
  const result = verify(probe, user);
  return result.ok
    ? undefined
    : `systemd-analyze ${user ? '--user ' : ''}verify cannot run here: ${result.output}`;
}

describe('install-service --dry-run', () => {
  test('prints a unit that runs the installed CLI with the .env and the journal', () => {
    const unit = dryRun('tts');
    assert.equal(value(unit, 'ExecStart'), `${process.execPath} ${CLI_PATH} serve tts`);
    assert.equal(value(unit, 'EnvironmentFile'), `-${envFile}`);
    assert.equal(value(unit, 'Restart'), 'on-failure');
    assert.equal(value(unit, 'SyslogIdentifier'), 'voice-stack-tts');
    assert.equal(value(unit, 'StandardOutput'), 'journal');
    assert.equal(value(unit, 'WantedBy'), 'multi-user.target');
  });

  test('sandboxes the service and leaves only the model cache writable', () => {
    const unit = dryRun('asr');
    assert.equal(value(unit, 'NoNewPrivileges'), 'yes');
    assert.equal(value(unit, 'ProtectSystem'), 'strict');
    assert.equal(value(unit, 'ReadWritePaths'), cacheDir);
    assert.equal(value(unit, 'SyslogIdentifier'), 'voice-stack-asr');
    assert.match(value(unit, 'ExecStart') ?? '', / serve asr$/);
  });

  test('waits longer than the drain grace period before killing', () => {
    const stop = Number(value(dryRun('tts'), 'TimeoutStopSec'));
    assert.ok(stop > 40, `TimeoutStopSec=${stop} must exceed SHUTDOWN_GRACE_SECONDS=40`);
    assert.ok(timeoutStopSeconds(0.5) > 0.5);
  });

  test('a user unit runs as its owner and starts with the user session', () => {
    const unit = dryRun('tts', ['--user']);
    assert.equal(value(unit, 'User'), undefined);
    assert.equal(value(unit, 'WantedBy'), 'default.target');
  });

  test('refuses an unknown service and a bad .env value, naming them', () => {
    const unknown = runCli(['install-service', 'stt', '--dry-run']);
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /unknown service 'stt'/);
    const badEnv = join(work, 'bad.env');
    writeFileSync(badEnv, 'SHUTDOWN_GRACE_SECONDS=soon\n');
    const bad = runCli(['install-service', 'tts', '--env-file', badEnv, '--dry-run']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /SHUTDOWN_GRACE_SECONDS="soon"/);
  });
});

describe('generated units pass systemd-analyze verify', () => {
  for (const user of [false, true]) {
    for (const service of ['asr', 'tts']) {
      const kind = user ? 'user' : 'system';
      test(`${kind} unit for ${service}`, (t) => {
        const unusable = verifierWorks(user);
        if (unusable !== undefined) return t.skip(unusable);
        const unit = dryRun(service, user ? ['--user'] : []);
        const result = verify(writeUnit(`voice-stack-${service}.service`, unit), user);
        assert.ok(result.ok, result.output);
      });
    }
  }

  test('the check fails for a broken unit, so a pass means something', (t) => {
    const unusable = verifierWorks(false);
    if (unusable !== undefined) return t.skip(unusable);
    const broken = `${dryRun('tts')}\n[Service]\nProtectSytem=strict\n`;
    assert.equal(verify(writeUnit('voice-stack-tts.service', broken), false).ok, false);
  });
});

describe('install and uninstall without systemctl (--no-start)', () => {
  test('writes the unit, creates the model cache, and removes the unit again', () => {
    const unitDir = join(work, 'units');
    mkdirSync(unitDir);
    const args = ['--unit-dir', unitDir, '--no-start', '--user'];
    const installed = runCli(['install-service', 'tts', '--env-file', envFile, ...args]);
    assert.equal(installed.status, 0, installed.stderr);
    const unitPath = join(unitDir, 'voice-stack-tts.service');
    assert.equal(readFileSync(unitPath, 'utf8'), dryRun('tts', ['--user']));
    assert.ok(existsSync(cacheDir), 'ProtectSystem=strict needs the cache folder to exist');
    const removed = runCli(['uninstall-service', 'tts', ...args]);
    assert.equal(removed.status, 0, removed.stderr);
    assert.equal(existsSync(unitPath), false);
  });
});

describe('renderSystemdUnit', () => {
  test('quotes spaces and escapes % so systemd reads the paths back unchanged', () => {
    const unit = renderSystemdUnit({
      service: 'tts',
      nodePath: '/opt/node 20/bin/node',
      cliPath: '/srv/100%/main.js',
      envFile: '/srv/app/.env',
      workingDirectory: '/srv/app',
      modelCacheDir: '/srv/models',
      shutdownGraceSeconds: 30,
      userUnit: false,
      runAs: 'voice',
    });
    assert.equal(value(unit, 'ExecStart'), '"/opt/node 20/bin/node" /srv/100%%/main.js serve tts');
    assert.equal(value(unit, 'User'), 'voice');
  });
});
