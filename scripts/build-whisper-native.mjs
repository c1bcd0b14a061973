#!/usr/bin/env node
// Builds whisper.cpp (through the smart-whisper binding's bundled sources) for this CPU.
//
// Why: the prebuilt @fugood/whisper.node CPU binary is compiled without AVX/FMA/F16C, and
// whisper.cpp picks its SIMD kernels at compile time, so that binary runs the `base` model
// about 17x slower than a build for the machine it runs on (see docs/MODELS.md). npm's own
// install script for smart-whisper is switched off in package.json (`allowScripts`) so the
// build happens once, here, after patch-package has applied patches/smart-whisper+*.patch
// (an abort hook, default context parameters, quiet native logs).
//
// Runs from `npm install` (postinstall). Skips the build when a stamp says the binary was built
// with the same flags, patch and Node ABI. Flags: VOICE_STACK_WHISPER_CFLAGS, default
// `-march=native`; set it to e.g. `-mavx2 -mfma -mf16c` when building an image for other hosts.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeGypRebuildArgs } from './node-gyp.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));

function packageDir() {
  try {
    return dirname(require.resolve('smart-whisper/package.json'));
  } catch {
    return undefined;
  }
}

function patchDigest() {
  const dir = join(root, 'patches');
  const hash = createHash('sha256');
  if (existsSync(dir)) {
    for (const name of readdirSync(dir).filter((n) => n.startsWith('smart-whisper+')).sort()) {
      hash.update(name).update(readFileSync(join(dir, name)));
    }
  }
  return hash.digest('hex').slice(0, 16);
}

const dir = packageDir();
if (dir === undefined) {
  console.log('build-whisper-native: smart-whisper is not installed; nothing to build');
  process.exit(0);
}
const flags = process.env.VOICE_STACK_WHISPER_CFLAGS ?? '-march=native';
const stampPath = join(dir, 'build', 'voice-stack-build.json');
const binaryPath = join(dir, 'build', 'Release', 'smart-whisper.node');
const wanted = { flags, defines: 'NDEBUG', patch: patchDigest(), abi: process.versions.modules, arch: process.arch };
if (existsSync(stampPath) && existsSync(binaryPath)) {
  const stamp = JSON.parse(readFileSync(stampPath, 'utf8'));
  if (JSON.stringify(stamp) === JSON.stringify(wanted)) {
    console.log(`build-whisper-native: up to date (${flags})`);
    process.exit(0);
  }
}
const gypArgs = nodeGypRebuildArgs();
if (gypArgs === undefined) {
  console.error('build-whisper-native: node-gyp not found (it ships with npm); cannot build whisper.cpp');
  process.exit(1);
}
console.log(`build-whisper-native: compiling whisper.cpp for this CPU with "${flags}" (about a minute on 2 cores)`);
const started = Date.now();
const result = spawnSync(process.execPath, gypArgs, {
  cwd: dir,
  stdio: ['ignore', 'ignore', 'inherit'],
  // -w: whisper.cpp's own warnings are not ours to act on and drown the install log.
  // -DNDEBUG: node-gyp's Release config leaves it out, which keeps ggml's debug prints on.
  env: { ...process.env, CFLAGS: `${flags} -w -DNDEBUG`, CXXFLAGS: `${flags} -w -DNDEBUG` },
});
if (result.status !== 0) {
  console.error(`build-whisper-native: node-gyp failed (exit ${result.status}); install g++, make and python3`);
  process.exit(1);
}
// Load it in a child: a binary that can't be loaded here would fail only at the first request.
const check = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(binaryPath)})`], {
  stdio: 'inherit',
});
if (check.status !== 0) {
  console.error('build-whisper-native: the built binary does not load');
  process.exit(1);
}
writeFileSync(stampPath, `${JSON.stringify(wanted)}\n`);
console.log(`build-whisper-native: built in ${Math.round((Date.now() - started) / 1000)} s`);
