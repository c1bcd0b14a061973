/**
 * deploy/compose.fleet.yaml, checked statically: no Docker engine (nor the compose
 * plugin) runs here. Parsed as Compose parses it (YAML with merge keys), then checked
 * for what the fleet needs: Redis with AOF and noeviction, one API node that runs no
 * jobs, two workers on the same Redis, and shutdown times that cover the drain.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { parseSettings } from '../../src/core/settings.js';

const DEPLOY = fileURLToPath(new URL('../../../deploy/', import.meta.url));

interface ComposeService {
  image?: string;
  command?: string[];
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  deploy?: { replicas?: number };
  build?: { context: string; dockerfile: string };
}

const compose = parseYaml(readFileSync(join(DEPLOY, 'compose.fleet.yaml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};
const service = (name: string): ComposeService => {
  const found = compose.services[name];
  assert.ok(found, name);
  return found;
};
const APP = ['asr-api', 'asr-worker'];

/** Compose durations as these files write them: `45s`, `2m`, `1m30s`. */
function seconds(duration: string | undefined): number {
  const match = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration ?? '');
  assert.ok(match && duration, `duration ${duration}`);
  return Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0);
}

describe('deploy/compose.fleet.yaml', () => {
  test('Redis runs the shipped redis.conf: AOF on, noeviction, data on a named volume', () => {
    const redis = service('redis');
    const configPath = redis.command?.[1];
    const bind = redis.volumes?.find((v) => v.split(':')[1] === configPath);
    assert.ok(bind, `${configPath} is mounted`);
    const source = join(DEPLOY, bind.split(':')[0] ?? '');
    assert.ok(existsSync(source), source);
    const conf = readFileSync(source, 'utf8');
    assert.match(conf, /^appendonly yes$/m);
    assert.match(conf, /^maxmemory-policy noeviction$/m);
    const dir = redis.command?.[redis.command.indexOf('--dir') + 1];
    const data = redis.volumes?.find((v) => v.split(':')[1] === dir);
    assert.ok(data && (data.split(':')[0] ?? '') in compose.volumes, `--dir ${dir} is a named volume`);
    assert.deepEqual(redis.healthcheck?.test, ['CMD', 'redis-cli', 'ping']);
    assert.equal(redis.ports, undefined, 'Redis is not published');
  });

  test('one API node that runs no jobs, and two workers, all on that Redis', () => {
    const api = service('asr-api');
    assert.deepEqual(api.command, ['serve', 'asr']);
    assert.equal(api.environment?.ASR_JOBS_WORKER, 'false');
    assert.deepEqual(api.ports, [`${parseSettings({}).asr.port}:${parseSettings({}).asr.port}`]);
    const worker = service('asr-worker');
    assert.deepEqual(worker.command, ['worker', 'asr']);
    assert.equal(worker.deploy?.replicas, 2);
    assert.equal(worker.ports, undefined, 'workers publish nothing, so they scale on one host');
    for (const name of APP) {
      const url = new URL(service(name).environment?.REDIS_URL ?? '');
      assert.equal(url.protocol, 'redis:');
      assert.ok(url.hostname in compose.services, `${name}: REDIS_URL names the ${url.hostname} service`);
      assert.deepEqual(service(name).depends_on, { redis: { condition: 'service_healthy' } });
    }
  });

  test('settings the app accepts, a health check on its port, and a stop grace above the drain', () => {
    for (const name of APP) {
      const app = service(name);
      const settings = parseSettings(app.environment ?? {});
      // A worker serves /health on WORKER_METRICS_PORT, the API node on ASR_PORT.
      const port = name === 'asr-worker' ? settings.jobs.workerMetricsPort : settings.asr.port;
      assert.ok(app.healthcheck?.test.join(' ').includes(`127.0.0.1:${port}/health`), name);
      assert.ok(
        seconds(app.stop_grace_period) > settings.shutdownGraceSeconds,
        `${name}: stop_grace_period ${app.stop_grace_period} > SHUTDOWN_GRACE_SECONDS ${settings.shutdownGraceSeconds}`,
      );
      assert.ok(app.volumes?.includes('models:/models'));
      assert.equal(settings.modelCacheDir, '/models');
      assert.ok(app.build && existsSync(join(DEPLOY, app.build.context, app.build.dockerfile)));
    }
    assert.ok('models' in compose.volumes && 'redis-data' in compose.volumes);
  });
});
