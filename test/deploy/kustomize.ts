import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    namespace?: string;
    readonly labels?: Record<string, string>;
  };
  readonly [field: string]: unknown;
}

interface Kustomization {
  namespace?: string;
  resources?: string[];
  configMapGenerator?: { name: string; files: string[] }[];
  generatorOptions?: { disableNameSuffixHash?: boolean };
}

/** Fields of kustomization.yaml that renderKustomization applies; any other is refused. */
const RENDERED = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'configMapGenerator',
  'generatorOptions',
]);
/** Kinds kustomize's namespace transformer leaves alone (cluster-scoped). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'PersistentVolume',
  'StorageClass',
  'ClusterRole',
  'ClusterRoleBinding',
]);

/** Every YAML document of a file, failing on any parse error. */
export function parseYamlDocuments(text: string, file: string): KubeObject[] {
  return parseAllDocuments(text).map((doc, index) => {
    if (doc.errors.length > 0) throw new Error(`${file} document ${index + 1}: ${doc.errors[0]?.message}`);
    return doc.toJS() as KubeObject;
  });
}

/**
 * What `kubectl kustomize <dir>` prints, for the features our kustomization uses:
 * its resources, its ConfigMap generators (without hash suffix) and its namespace.
 * Used where kubectl is not installed; where it is, the test checks both agree.
 */
export function renderKustomization(dir: string): KubeObject[] {
  const kustomization = parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
  for (const field of Object.keys(kustomization)) {
    if (!RENDERED.has(field)) throw new Error(`kustomization.yaml: ${field} is not rendered by this test`);
  }
  const objects = (kustomization.resources ?? []).flatMap((file) =>
    parseYamlDocuments(readFileSync(join(dir, file), 'utf8'), file),
  );
  for (const generator of kustomization.configMapGenerator ?? []) {
    if (kustomization.generatorOptions?.disableNameSuffixHash !== true) {
      throw new Error('configMapGenerator with a name hash is not rendered by this test');
    }
    const data = Object.fromEntries(
      generator.files.map((file) => [basename(file), readFileSync(join(dir, file), 'utf8')]),
    );
    objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: generator.name }, data });
  }
  if (kustomization.namespace !== undefined) {
    for (const object of objects) {
      if (!CLUSTER_SCOPED.has(object.kind)) object.metadata.namespace = kustomization.namespace;
    }
  }
  return objects;
}

/** `kubectl kustomize <dir>` parsed, or undefined where kubectl is not installed. */
export function kubectlKustomize(dir: string): KubeObject[] | undefined {
  const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 30_000 });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  if (result.status !== 0)
    throw new Error(`kubectl kustomize ${dir}: ${result.stderr || result.error?.message}`);
  return parseYamlDocuments(result.stdout, 'kubectl kustomize');
}

/** A stable order for comparing two renderings. */
export function sortObjects(objects: readonly KubeObject[]): KubeObject[] {
  const key = (o: KubeObject) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  return [...objects].sort((a, b) => key(a).localeCompare(key(b)));
}
