// node-gyp as both native builds run it (build-whisper-native.mjs, build-whisper-current.mjs).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** npm sets npm_config_node_gyp for lifecycle scripts; outside one, use the node-gyp npm bundles. */
function nodeGypScript() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => c !== undefined && c !== '' && existsSync(c));
}

/** Arguments for `node <args>` that rebuild the addon in the working folder; undefined without node-gyp. */
export function nodeGypRebuildArgs() {
  const gyp = nodeGypScript();
  if (gyp === undefined) return undefined;
  // Node's own headers (official builds ship include/node) spare node-gyp a download from nodejs.org.
  const prefix = join(dirname(process.execPath), '..');
  const nodedir =
    process.env.npm_config_nodedir ??
    (existsSync(join(prefix, 'include', 'node', 'node.h')) ? prefix : undefined);
  return [gyp, 'rebuild', '--loglevel=warn', ...(nodedir === undefined ? [] : [`--nodedir=${nodedir}`])];
}
