/**
 * No Docker engine runs here, so the container files are checked statically: the
 * Dockerfiles with dockerfile-utils' linter (the rules of the VS Code Docker
 * extension; hadolint has no npm or Debian package), the Compose file parsed as
 * YAML and checked for what the services need, and .env.example against the
 * settings parser.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { validate } from 'dockerfile-utils';
import { parse as parseYaml } from 'yaml';
import { parseSettings } from '../../src/core/settings.js';
import { effectiveSettings } from '../../src/ops/doctor.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Instructions with continuation lines joined, comments dropped. */
function instructions(dockerfile: string): Instruction[] {
  return dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

function finalStage(dockerfile: string): Instruction[] {
  const all = instructions(dockerfile);
  const lastFrom = all.map((i) => i.keyword).lastIndexOf('FROM');
  return all.slice(lastFrom);
}

for (const file of ['deploy/Dockerfile', 'deploy/Dockerfile.cuda']) {
  describe(file, () => {
    const text = read(file);

    test('passes the Dockerfile linter', () => {
      assert.deepEqual(
        validate(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`),
        [],
      );
    });

    test('is multi-stage and runs as a non-root user with a health check', () => {
      assert.ok(instructions(text).filter((i) => i.keyword === 'FROM').length >= 2);
      const runtime = finalStage(text);
      const user = runtime.filter((i) => i.keyword === 'USER').at(-1)?.args;
      assert.ok(user !== undefined && user !== 'root' && user !== '0', `USER ${user}`);
      assert.ok(runtime.some((i) => i.keyword === 'HEALTHCHECK' && i.args.includes('/health')));
      assert.match(runtime.find((i) => i.keyword === 'ENTRYPOINT')?.args ?? '', /dist\/src\/cli\/main\.js/);
    });

    test('copies only files that exist in the repository', () => {
      const copies = instructions(text).filter((i) => i.keyword === 'COPY' && !i.args.includes('--from'));
      for (const copy of copies) {
        const sources = copy.args.split(/\s+/).slice(0, -1);
        for (const source of sources) assert.ok(existsSync(join(ROOT, source)), `${file}: COPY ${source}`);
      }
    });
  });
}

describe('the Dockerfile linter', () => {
  test('finds mistakes, so a clean result means something', () => {
    const broken = 'FROM node:20 AS build\nEXPOSE http\nHEALTHCHECK --interval=often CMD true\nCMD\n';
    assert.ok(validate(broken).length >= 2);
  });
});

interface ComposeService {
  command: string[];
  ports: string[];
  volumes: string[];
  healthcheck: { test: string[] };
  stop_grace_period: string;
  build: { context: string; dockerfile: string };
  env_file: Array<{ path: string; required: boolean }>;
  profiles?: string[];
  deploy?: unknown;
}

describe('deploy/compose.yaml', () => {
  const compose = parseYaml(read('deploy/compose.yaml'), { merge: true }) as {
    services: Record<string, ComposeService>;
    volumes: Record<string, unknown>;
  };

  test('runs both services, each on its port and its Wyoming port, with a health check of that port', () => {
    for (const [name, port, wyoming] of [
      ['asr', 5001, 10300],
      ['tts', 5002, 10200],
    ] as const) {
      const service = compose.services[name];
      assert.ok(service, name);
      assert.deepEqual(service.command, ['serve', name]);
      assert.deepEqual(service.ports, [`${port}:${port}`, `${wyoming}:${wyoming}`]);
      assert.ok(service.healthcheck.test.join(' ').includes(`127.0.0.1:${port}/health`));
    }
  });

  test('shares one model cache volume and reads an optional .env', () => {
    assert.ok('models' in compose.volumes);
    for (const service of Object.values(compose.services)) {
      assert.ok(service.volumes.includes('models:/models'));
      assert.deepEqual(service.env_file, [{ path: '.env', required: false }]);
    }
  });

  test('waits longer than the drain grace period and builds from existing Dockerfiles', () => {
    const grace = parseSettings({}).shutdownGraceSeconds;
    for (const service of Object.values(compose.services)) {
      assert.ok(Number.parseInt(service.stop_grace_period, 10) > grace);
      assert.ok(existsSync(join(ROOT, 'deploy', service.build.context, service.build.dockerfile)));
    }
  });

  test('the CUDA variant is opt-in and reserves a GPU', () => {
    const cuda = compose.services['asr-cuda'];
    assert.deepEqual(cuda?.profiles, ['cuda']);
    assert.match(JSON.stringify(cuda?.deploy), /"driver":"nvidia"/);
  });
});

describe('deploy/.env.example', () => {
  const lines = read('deploy/.env.example')
    .split('\n')
    .map((line) => /^#?\s*([A-Z][A-Z0-9_]+)=(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null);
  const env = Object.fromEntries(lines.map((m) => [m[1] ?? '', m[2] ?? '']));

  test('every value shown is accepted by the settings parser and is the default', () => {
    const parsed = parseSettings(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
    const defaults = parseSettings({});
    assert.deepEqual(effectiveSettings(parsed), effectiveSettings(defaults));
  });

  test('lists every setting the services read', () => {
    const missing = Object.keys(effectiveSettings(parseSettings({}))).filter((name) => !(name in env));
    assert.deepEqual(missing, []);
  });
});
