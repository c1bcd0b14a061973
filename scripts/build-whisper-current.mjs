#!/usr/bin/env node
// Builds native/whisper-current: our small Node-API addon over the prebuilt whisper.cpp 1.8.3
// that @spader/node-whisper-cpp-x64-linux-cpu-gnu ships (libwhisper.so + ggml with runtime CPU
// dispatch). The addon is one C++ file against whisper.cpp's vendored public headers and opens
// the prebuilt libraries with dlopen, so it compiles in seconds and needs no -march: the CPU
// kernels are the package's, picked for the CPU it runs on.
//
// Runs from `npm install` (postinstall). Skips the build when a stamp says the addon was built
// from the same sources for the same Node ABI. A failed build is a warning, not a failed
// install: the service then runs the bundled build (smart-whisper) and says so.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeGypRebuildArgs } from './node-gyp.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'native', 'whisper-current');
const stampPath = join(dir, 'build', 'voice-stack-build.json');
const binaryPath = join(dir, 'build', 'Release', 'whisper_current.node');

function sourceDigest() {
  const hash = createHash('sha256');
  for (const sub of ['.', 'src', 'include']) {
    const folder = join(dir, sub);
    for (const name of readdirSync(folder).sort()) {
      const path = join(folder, name);
      if (/\.(cc|h|gyp)$/.test(name)) hash.update(`${sub}/${name}`).update(readFileSync(path));
    }
  }
  return hash.digest('hex').slice(0, 16);
}

function warn(message) {
  console.error(`build-whisper-current: ${message}; ASR will use the bundled whisper.cpp build`);
  process.exit(0);
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.log('build-whisper-current: the prebuilt whisper.cpp package is for Linux x64 only; nothing to build');
  process.exit(0);
}
if (!existsSync(join(dir, 'binding.gyp'))) {
  console.log('build-whisper-current: native/whisper-current is not in this checkout; nothing to build');
  process.exit(0);
}
const wanted = { sources: sourceDigest(), abi: process.versions.modules, arch: process.arch };
if (existsSync(stampPath) && existsSync(binaryPath)) {
  const stamp = JSON.parse(readFileSync(stampPath, 'utf8'));
  if (JSON.stringify(stamp) === JSON.stringify(wanted)) {
    console.log('build-whisper-current: up to date');
    process.exit(0);
  }
}
const gypArgs = nodeGypRebuildArgs();
if (gypArgs === undefined) warn('node-gyp not found (it ships with npm)');
const started = Date.now();
const result = spawnSync(process.execPath, gypArgs, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
if (result.status !== 0) warn(`node-gyp failed (exit ${result.status}); install g++, make and python3`);
// Load it in a child: a binary that can't be loaded here would fail only at the first request.
const check = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(binaryPath)})`], { stdio: 'inherit' });
if (check.status !== 0) warn('the built addon does not load');
writeFileSync(stampPath, `${JSON.stringify(wanted)}\n`);
console.log(`build-whisper-current: built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
