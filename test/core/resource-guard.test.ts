import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/runtime/clock.js';
import { ResourceGuard, ResourceMonitor } from '../../src/core/runtime/resource-guard.js';

const GiB = 1024 * 1024 * 1024;
const meminfo = (totalKb: number, availableKb: number, swapTotalKb = 0, swapFreeKb = 0) =>
  `MemTotal: ${totalKb} kB\nMemFree: 1 kB\nMemAvailable: ${availableKb} kB\nSwapTotal: ${swapTotalKb} kB\nSwapFree: ${swapFreeKb} kB\n`;

function fakeFs(files: Record<string, string>) {
  let reads = 0;
  return {
    readText: (path: string) => {
      reads += 1;
      return files[path];
    },
    reads: () => reads,
  };
}

describe('ResourceMonitor', () => {
  it('reads host memory and swap from /proc/meminfo', () => {
    const fs = fakeFs({
      '/proc/meminfo': meminfo(16 * 1024 * 1024, 4 * 1024 * 1024, 1024 * 1024, 256 * 1024),
    });
    const reading = new ResourceMonitor({ readText: fs.readText }).read();
    assert.equal(reading.memory.percent, 75);
    assert.equal(reading.memory.totalMb, 16 * 1024);
    assert.equal(reading.memory.cgroupLimited, false);
    assert.equal(reading.swap.percent, 75);
    assert.equal(reading.swap.usedMb, 768);
  });

  it('uses a cgroup v2 memory limit when it is below the host total', () => {
    const fs = fakeFs({
      '/proc/meminfo': meminfo(64 * 1024 * 1024, 60 * 1024 * 1024),
      '/proc/self/cgroup': '0::/docker/abc\n',
      '/sys/fs/cgroup/docker/abc/memory.max': `${2 * GiB}\n`,
      '/sys/fs/cgroup/docker/abc/memory.current': `${1.9 * GiB}\n`,
      '/sys/fs/cgroup/docker/abc/memory.stat': `anon 1\ninactive_file ${0.1 * GiB}\n`,
      '/sys/fs/cgroup/memory.max': 'max\n',
    });
    const reading = new ResourceMonitor({ readText: fs.readText }).read();
    assert.equal(reading.memory.cgroupLimited, true);
    assert.equal(reading.memory.totalMb, 2048);
    assert.equal(reading.memory.percent, 90);
  });

  it('uses a cgroup v1 memory limit (hybrid hosts, older Docker)', () => {
    const fs = fakeFs({
      '/proc/meminfo': meminfo(64 * 1024 * 1024, 60 * 1024 * 1024),
      '/proc/self/cgroup': '12:cpu,cpuacct:/x\n5:memory:/docker/abc\n0::/\n',
      '/sys/fs/cgroup/docker/abc/memory.max': 'max\n',
      '/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes': `${4 * GiB}\n`,
      '/sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes': `${3.5 * GiB}\n`,
      '/sys/fs/cgroup/memory/docker/abc/memory.stat': `cache 1\ntotal_inactive_file ${0.5 * GiB}\n`,
    });
    const reading = new ResourceMonitor({ readText: fs.readText }).read();
    assert.equal(reading.memory.cgroupLimited, true);
    assert.equal(reading.memory.totalMb, 4096);
    assert.equal(reading.memory.percent, 75);
  });

  it('ignores a cgroup v1 "unlimited" value', () => {
    const fs = fakeFs({
      '/proc/meminfo': meminfo(16 * 1024 * 1024, 8 * 1024 * 1024),
      '/proc/self/cgroup': '5:memory:/\n',
      '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n',
    });
    const reading = new ResourceMonitor({ readText: fs.readText }).read();
    assert.equal(reading.memory.cgroupLimited, false);
    assert.equal(reading.memory.percent, 50);
  });

  it('caches readings for the interval', () => {
    const clock = new ManualClock();
    const fs = fakeFs({ '/proc/meminfo': meminfo(1000, 500) });
    const monitor = new ResourceMonitor({ readText: fs.readText, clock, cacheMs: 1000 });
    monitor.read();
    const afterFirst = fs.reads();
    monitor.read();
    assert.equal(fs.reads(), afterFirst);
    clock.advance(1001);
    monitor.read();
    assert.ok(fs.reads() > afterFirst);
  });

  it('the guard names the resource over its threshold; no swap means no swap verdict', () => {
    const over = fakeFs({ '/proc/meminfo': meminfo(1000, 80, 0, 0) });
    const verdict = new ResourceGuard(new ResourceMonitor({ readText: over.readText }), 90, 80).check();
    assert.deepEqual(verdict, { ok: false, resource: 'memory', percent: 92, threshold: 90 });
    const swapping = fakeFs({ '/proc/meminfo': meminfo(1000, 500, 1000, 100) });
    const swapVerdict = new ResourceGuard(
      new ResourceMonitor({ readText: swapping.readText }),
      90,
      80,
    ).check();
    assert.deepEqual(swapVerdict, { ok: false, resource: 'swap', percent: 90, threshold: 80 });
    const calm = fakeFs({ '/proc/meminfo': meminfo(1000, 500) });
    assert.deepEqual(new ResourceGuard(new ResourceMonitor({ readText: calm.readText }), 90, 80).check(), {
      ok: true,
    });
  });
});
