/**
 * deploy/kubernetes: rendered as kustomize renders it (kubectl kustomize where installed,
 * the same rendering done here otherwise), every object validated against the Kubernetes
 * API schemas (kubernetes-models) or KEDA's ScaledObject fields, then the references
 * between them and the app checked; and the Redis keys KEDA reads are produced by a real
 * BullMQ queue on a real redis-server started with the shipped redis.conf.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  ConfigMap,
  type IContainer,
  type IPodTemplateSpec,
  Namespace,
  PersistentVolumeClaim,
  Service,
} from 'kubernetes-models/v1';
import { Value } from 'typebox/value';
import { parseSettings, type Settings } from '../../src/core/settings.js';
import { ASR_ACTIVE_LIST_KEY, ASR_QUEUE_NAME, ASR_WAIT_LIST_KEY } from '../../src/jobs/queue-names.js';
import { freePort } from '../support/haproxy-process.js';
import { ScaledObject } from './keda-scaled-object.js';
import { type KubeObject, kubectlKustomize, renderKustomization, sortObjects } from './kustomize.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DIR = join(ROOT, 'deploy/kubernetes');

/** The Kubernetes API schema of each kind we ship, by apiVersion/kind. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

/** Throws with the schema's message when `object` is not a valid instance of its kind. */
function validateObject(object: KubeObject): void {
  const id = `${object.apiVersion}/${object.kind}`;
  if (id === 'keda.sh/v1alpha1/ScaledObject') {
    const errors = Value.Errors(ScaledObject, object);
    if (errors.length > 0) {
      throw new Error(`${object.metadata.name}: ${errors.map((e) => JSON.stringify(e)).join('; ')}`);
    }
    return;
  }
  const Model = MODELS[id];
  if (Model === undefined) throw new Error(`${id} ${object.metadata.name}: no schema for this kind`);
  new Model(object as never).validate();
}

const objects = renderKustomization(DIR);
const ofKind = (kind: string) => objects.filter((o) => o.kind === kind);
const named = (kind: string, name: string) => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `${kind} ${name}`);
  return found;
};

interface Workload {
  readonly name: string;
  readonly template: IPodTemplateSpec;
  readonly replicas: number | undefined;
  readonly matchLabels: Record<string, string>;
}
const workloads: Workload[] = [...ofKind('Deployment'), ...ofKind('StatefulSet')].map((o) => {
  const spec = (o as unknown as Deployment).spec;
  assert.ok(spec?.template, o.metadata.name);
  return {
    name: o.metadata.name,
    template: spec.template,
    replicas: spec.replicas,
    matchLabels: spec.selector.matchLabels ?? {},
  };
});
const workload = (name: string) => {
  const found = workloads.find((w) => w.name === name);
  assert.ok(found, name);
  return found;
};
const containerOf = (name: string): IContainer => {
  const container = workload(name).template.spec?.containers[0];
  assert.ok(container, name);
  return container;
};
/** Voice Stack's own pods (not Redis). */
const appWorkloads = ['voice-stack-asr-api', 'voice-stack-asr-worker', 'voice-stack-tts'];

const selects = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(selector).every(([key, value]) => labels?.[key] === value);

/** The environment a container starts with: its ConfigMaps, then its own `env` on top. */
function containerEnv(container: IContainer): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const name = source.configMapRef?.name;
    assert.ok(name, `${container.name}: only configMapRef sources are checked`);
    Object.assign(env, (named('ConfigMap', name) as unknown as ConfigMap).data);
  }
  for (const variable of container.env ?? []) {
    assert.equal(typeof variable.value, 'string', `${container.name}: ${variable.name} has a literal value`);
    env[variable.name] = variable.value as string;
  }
  return env;
}

const settingsOf = (name: string): Settings => parseSettings(containerEnv(containerOf(name)));

/** CPU in cores, memory in bytes: the quantity forms these manifests use. */
function quantity(value: string | number | undefined): number {
  const text = String(value);
  const match = /^([0-9.]+)(m|Ki|Mi|Gi)?$/.exec(text);
  assert.ok(match, `quantity ${text}`);
  const scale = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * scale;
}

describe('deploy/kubernetes renders and validates', () => {
  test('kubectl kustomize renders the same objects as this test (where kubectl is installed)', (t) => {
    const rendered = kubectlKustomize(DIR);
    if (rendered === undefined) {
      t.skip('kubectl is not installed: the rendering here stands alone');
      return;
    }
    assert.deepEqual(sortObjects(rendered), sortObjects(objects));
  });

  test('every object is valid against the Kubernetes API schemas (KEDA: its CRD fields)', () => {
    assert.ok(objects.length >= 10);
    for (const object of objects) validateObject(object);
    assert.equal(new Set(objects.map((o) => `${o.kind}/${o.metadata.name}`)).size, objects.length, 'unique');
  });

  test('the validation rejects what the API server would', () => {
    const deployment = structuredClone(named('Deployment', 'voice-stack-asr-api')) as unknown as {
      spec: { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } };
    };
    const [container] = deployment.spec.template.spec.containers;
    assert.ok(container?.ports[0]);
    container.ports[0].containerPort = 'http';
    assert.throws(() => validateObject(deployment as unknown as KubeObject), /containerPort must be integer/);
    const scaled = structuredClone(named('ScaledObject', 'voice-stack-asr-worker')) as unknown as {
      spec: { triggers: { metadata: Record<string, unknown> }[] };
    };
    const [trigger] = scaled.spec.triggers;
    assert.ok(trigger);
    trigger.metadata.listname = trigger.metadata.listName;
    delete trigger.metadata.listName;
    assert.throws(() => validateObject(scaled as unknown as KubeObject));
  });

  test('everything lands in one namespace', () => {
    assert.equal(ofKind('Namespace').length, 1);
    const namespace = ofKind('Namespace')[0]?.metadata.name;
    for (const object of objects.filter((o) => o.kind !== 'Namespace')) {
      assert.equal(object.metadata.namespace, namespace, `${object.kind} ${object.metadata.name}`);
    }
  });
});

describe('deploy/kubernetes references hold', () => {
  test('each Deployment and StatefulSet selects its own pods, and no other workload’s', () => {
    for (const w of workloads) {
      assert.ok(Object.keys(w.matchLabels).length > 0, w.name);
      assert.ok(selects(w.matchLabels, w.template.metadata?.labels), `${w.name} selects its template`);
      for (const other of workloads.filter((o) => o !== w)) {
        assert.ok(!selects(w.matchLabels, other.template.metadata?.labels), `${w.name} vs ${other.name}`);
      }
    }
  });

  test('every Service selects exactly one workload, on a port its container names', () => {
    for (const service of ofKind('Service') as unknown as Service[]) {
      const selector = service.spec?.selector ?? {};
      const matches = workloads.filter((w) => selects(selector, w.template.metadata?.labels));
      assert.equal(matches.length, 1, `${service.metadata?.name} selects ${matches.map((m) => m.name)}`);
      const ports = matches[0]?.template.spec?.containers.flatMap((c) => c.ports ?? []) ?? [];
      for (const port of service.spec?.ports ?? []) {
        assert.ok(
          ports.some((p) => p.name === port.targetPort || p.containerPort === port.targetPort),
          `${service.metadata?.name}: targetPort ${port.targetPort}`,
        );
      }
    }
    assert.equal(named('Service', 'voice-stack-asr').kind, 'Service');
    assert.equal(named('Service', 'voice-stack-tts').kind, 'Service');
  });

  test('PodDisruptionBudgets select a workload; the NetworkPolicy admits the app and KEDA to Redis', () => {
    for (const budget of ofKind('PodDisruptionBudget') as unknown as PodDisruptionBudget[]) {
      const selector = budget.spec?.selector?.matchLabels ?? {};
      assert.equal(workloads.filter((w) => selects(selector, w.template.metadata?.labels)).length, 1);
    }
    const policy = named('NetworkPolicy', 'redis') as unknown as NetworkPolicy;
    assert.ok(
      selects(policy.spec?.podSelector.matchLabels ?? {}, workload('redis').template.metadata?.labels),
    );
    const from = policy.spec?.ingress?.flatMap((rule) => rule.from ?? []) ?? [];
    for (const name of appWorkloads) {
      const labels = workload(name).template.metadata?.labels;
      assert.ok(
        from.some((peer) => peer.podSelector && selects(peer.podSelector.matchLabels ?? {}, labels)),
        name,
      );
    }
    assert.ok(
      from.some((peer) => peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'keda'),
    );
  });

  test('every ConfigMap and claim a pod uses exists', () => {
    for (const w of workloads) {
      for (const volume of w.template.spec?.volumes ?? []) {
        if (volume.configMap) named('ConfigMap', volume.configMap.name ?? '');
        if (volume.persistentVolumeClaim)
          named('PersistentVolumeClaim', volume.persistentVolumeClaim.claimName);
      }
      for (const container of w.template.spec?.containers ?? []) containerEnv(container);
    }
  });

  test('each app container runs its command with settings the app accepts, on the port it listens on', () => {
    const expected: Record<string, { args: string[]; port: (s: Settings) => number }> = {
      'voice-stack-asr-api': { args: ['serve', 'asr'], port: (s) => s.asr.port },
      'voice-stack-asr-worker': { args: ['worker', 'asr'], port: (s) => s.jobs.workerMetricsPort },
      'voice-stack-tts': { args: ['serve', 'tts'], port: (s) => s.tts.port },
    };
    for (const [name, { args, port }] of Object.entries(expected)) {
      const container = containerOf(name);
      assert.deepEqual(container.args, args, name);
      const http = container.ports?.find((p) => p.name === 'http');
      assert.equal(
        http?.containerPort,
        port(settingsOf(name)),
        `${name}: containerPort = the port the app binds`,
      );
    }
    const api = containerEnv(containerOf('voice-stack-asr-api'));
    assert.equal(api.ASR_JOBS_WORKER, 'false', 'the API node runs no jobs itself');
    for (const name of ['voice-stack-asr-api', 'voice-stack-asr-worker']) {
      assert.match(containerEnv(containerOf(name)).REDIS_URL ?? '', /^redis:\/\//, name);
    }
  });

  test('liveness is /health, readiness /ready, on the container’s http port', () => {
    for (const name of appWorkloads) {
      const { livenessProbe, readinessProbe } = containerOf(name);
      assert.equal(livenessProbe?.httpGet?.path, '/health', name);
      assert.equal(readinessProbe?.httpGet?.path, '/ready', name);
      assert.equal(livenessProbe?.httpGet?.port, 'http', name);
      assert.equal(readinessProbe?.httpGet?.port, 'http', name);
    }
  });

  test('the preStop pause outlasts the readiness period; the kill comes after pause and drain', () => {
    for (const name of appWorkloads) {
      const container = containerOf(name);
      const pause = container.lifecycle?.preStop?.sleep?.seconds;
      assert.ok(typeof pause === 'number', `${name}: preStop sleep`);
      const readiness = container.readinessProbe;
      const readinessPeriod = (readiness?.periodSeconds ?? 10) * (readiness?.failureThreshold ?? 3);
      assert.ok(pause > readinessPeriod, `${name}: preStop ${pause} s > readiness ${readinessPeriod} s`);
      const settings = settingsOf(name);
      const grace = workload(name).template.spec?.terminationGracePeriodSeconds ?? 30;
      assert.ok(
        grace > pause + settings.shutdownGraceSeconds,
        `${name}: terminationGracePeriodSeconds ${grace} > ${pause} + SHUTDOWN_GRACE_SECONDS ${settings.shutdownGraceSeconds}`,
      );
      assert.ok(settings.drainNoticeSeconds < settings.shutdownGraceSeconds, name);
    }
  });

  test('every container requests and limits CPU and memory, requests within limits', () => {
    for (const w of workloads) {
      for (const container of w.template.spec?.containers ?? []) {
        const { requests, limits } = container.resources ?? {};
        for (const resource of ['cpu', 'memory']) {
          const request = quantity(requests?.[resource]);
          const limit = quantity(limits?.[resource]);
          assert.ok(request > 0 && request <= limit, `${w.name} ${resource}: ${request} <= ${limit}`);
        }
      }
    }
    // Whisper's threads follow the container's CPUs, not the node's.
    for (const name of ['voice-stack-asr-api', 'voice-stack-asr-worker']) {
      const threads = settingsOf(name).asr.cpuThreads;
      const cpus = quantity(containerOf(name).resources?.limits?.cpu);
      assert.ok(threads > 0 && threads <= cpus, `${name}: ASR_CPU_THREADS ${threads} <= ${cpus} CPUs`);
    }
  });

  test('the model cache directory is a mounted volume in every app container', () => {
    for (const name of appWorkloads) {
      const dir = settingsOf(name).modelCacheDir;
      const mount = containerOf(name).volumeMounts?.find((m) => m.mountPath === dir);
      assert.ok(mount, `${name}: MODEL_CACHE_DIR ${dir} is mounted`);
      const volume = workload(name).template.spec?.volumes?.find((v) => v.name === mount.name);
      assert.ok(volume?.persistentVolumeClaim, `${name}: the cache is the shared claim`);
    }
  });

  test('Redis: AOF on, noeviction, maxmemory under its memory limit, data on its own volume', () => {
    const redis = containerOf('redis');
    const conf = (named('ConfigMap', 'redis-config') as unknown as ConfigMap).data?.['redis.conf'] ?? '';
    const directive = (name: string) => new RegExp(`^${name}\\s+(\\S+)\\s*$`, 'm').exec(conf)?.[1];
    assert.equal(directive('appendonly'), 'yes');
    assert.equal(directive('maxmemory-policy'), 'noeviction');
    assert.ok(
      quantity(directive('maxmemory')?.replace(/gb$/i, 'Gi').replace(/mb$/i, 'Mi')) <
        quantity(redis.resources?.limits?.memory),
    );
    const configPath = redis.command?.[1] ?? '';
    const configMount = redis.volumeMounts?.find((m) => configPath.startsWith(`${m.mountPath}/`));
    assert.equal(configMount?.name, 'config');
    const dir = redis.command?.[redis.command.indexOf('--dir') + 1];
    assert.ok(
      redis.volumeMounts?.some((m) => m.mountPath === dir && m.name === 'data'),
      `--dir ${dir}`,
    );
    const set = named('StatefulSet', 'redis') as unknown as StatefulSet;
    assert.ok(set.spec?.volumeClaimTemplates?.some((c) => c.metadata?.name === 'data'));
    const service = named('Service', 'redis') as unknown as Service;
    assert.ok(service.spec?.ports?.some((p) => p.port === Number(directive('port'))));
  });

  test('KEDA scales the worker Deployment from zero on the queue’s keys, reading Redis from its env', () => {
    const scaled = named('ScaledObject', 'voice-stack-asr-worker') as unknown as {
      spec: {
        scaleTargetRef: { name: string; kind?: string; envSourceContainerName?: string };
        minReplicaCount: number;
        maxReplicaCount: number;
        advanced: { scalingModifiers: { formula: string; target: string; activationTarget: string } };
        triggers: { name: string; metadata: Record<string, string> }[];
      };
    };
    const { spec } = scaled;
    assert.equal(spec.scaleTargetRef.name, 'voice-stack-asr-worker');
    assert.equal(spec.scaleTargetRef.kind ?? 'Deployment', 'Deployment');
    named('Deployment', spec.scaleTargetRef.name);
    assert.equal(workload('voice-stack-asr-worker').replicas, undefined, 'KEDA owns the replica count');
    assert.equal(spec.minReplicaCount, 0);
    assert.ok(spec.maxReplicaCount >= 1);
    const lists = Object.fromEntries(spec.triggers.map((t) => [t.name, t.metadata.listName]));
    assert.deepEqual(lists, { waiting: ASR_WAIT_LIST_KEY, running: ASR_ACTIVE_LIST_KEY });
    // Every trigger is in the formula, and the formula names nothing else.
    const identifiers = spec.advanced.scalingModifiers.formula.match(/[a-z_][a-z0-9_]*/g) ?? [];
    assert.deepEqual([...new Set(identifiers)].sort(), Object.keys(lists).sort());
    assert.equal(spec.advanced.scalingModifiers.activationTarget, '0', 'the first job wakes a worker');
    // One pod per job: the target is what one worker runs at once.
    const workerEnv = containerEnv(containerOf('voice-stack-asr-worker'));
    assert.equal(
      Number(spec.advanced.scalingModifiers.target),
      settingsOf('voice-stack-asr-worker').asr.maxConcurrentRequests,
    );
    for (const trigger of spec.triggers) {
      const variable = trigger.metadata.addressFromEnv ?? '';
      const address = workerEnv[variable];
      assert.ok(address, `${variable} is set in the worker's first container`);
      const url = new URL(workerEnv.REDIS_URL ?? '');
      assert.equal(address, url.host, 'KEDA reads the Redis the workers use');
      named('Service', url.hostname);
    }
  });
});

/** A real redis-server with the shipped redis.conf, on a free port and a scratch dir. */
async function startRedis(): Promise<{ port: number; child: ChildProcess; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'voice-stack-redis-'));
  const port = await freePort();
  const child = spawn(
    'redis-server',
    [join(DIR, 'redis.conf'), '--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let failed = false;
  // Not installed: scripts/install-deps.sh --test installs redis-server.
  child.on('error', (error) => {
    failed = true;
    output += String(error);
  });
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!output.includes('Ready to accept connections')) {
    if (failed || child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server did not start: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { port, child, stop };
}

describe('the Redis keys KEDA reads are the ones BullMQ writes (real redis-server, real BullMQ)', () => {
  let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
  let client: Redis | undefined;
  before(async () => {
    redis = await startRedis();
    client = new Redis({ host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: 1, lazyConnect: true });
    await client.connect();
  });
  after(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  test('the shipped redis.conf starts Redis with AOF and noeviction', async () => {
    assert.ok(client);
    assert.deepEqual(await client.config('GET', 'appendonly'), ['appendonly', 'yes']);
    assert.deepEqual(await client.config('GET', 'maxmemory-policy'), ['maxmemory-policy', 'noeviction']);
  });

  test('a queued job is in the wait list, a running one in the active list', async () => {
    assert.ok(client && redis);
    const connection = { host: '127.0.0.1', port: redis.port };
    const queue = new Queue(ASR_QUEUE_NAME, { connection });
    let release: () => void = () => {};
    const running = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started: () => void = () => {};
    const startedJob = new Promise<void>((resolve) => {
      started = resolve;
    });
    let worker: Worker | undefined;
    try {
      await queue.add('transcribe', { audio: 'k' });
      assert.equal(await client.llen(ASR_WAIT_LIST_KEY), 1, `${ASR_WAIT_LIST_KEY} holds the queued job`);
      assert.equal(await client.type(ASR_WAIT_LIST_KEY), 'list', 'a list, as the redis scaler reads it');
      worker = new Worker(
        ASR_QUEUE_NAME,
        async () => {
          started();
          await running;
        },
        { connection },
      );
      await startedJob;
      assert.equal(await client.llen(ASR_WAIT_LIST_KEY), 0);
      assert.equal(await client.llen(ASR_ACTIVE_LIST_KEY), 1, `${ASR_ACTIVE_LIST_KEY} holds the running job`);
      release();
    } finally {
      release();
      await worker?.close();
      await queue.close();
    }
  });
});
