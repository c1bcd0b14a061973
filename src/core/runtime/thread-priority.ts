/**
 * Keeps the event loop ahead of native inference when every core is busy (issue 15).
 *
 * On Linux a nice value belongs to a thread, `setpriority(PRIO_PROCESS, tid)` (os.setPriority)
 * renices just that thread, and a new thread starts with its creator's value. whisper.cpp's
 * compute threads are created from libuv's pool threads, so renicing every thread but the main
 * one (whose id is the process id) puts inference below the event loop, which then gets a core
 * within a scheduler tick when a request comes in. Elsewhere this does nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

const TASKS = '/proc/self/task';

export interface ThreadNice {
  readonly tid: number;
  readonly nice: number;
  /** The kernel's name for the thread (`comm`): `node` for most, `v8:…` for V8's own named threads. */
  readonly name: string;
}

/**
 * V8 names the threads it starts itself; the one that exists in a service is the CPU profiler's
 * sampler (`v8:ProfEvntProc`, under `--cpu-prof` or an inspector session). Reniced, it would be
 * starved by inference and take its samples late, so a profile would show the event loop busy
 * in whatever ran before each late sample.
 */
const V8_NAMED_THREAD = 'v8:';

/** The nice value of each of this process's threads; empty where /proc is not there. */
export function threadNiceValues(tasks = TASKS): ThreadNice[] {
  let ids: string[];
  try {
    ids = readdirSync(tasks);
  } catch {
    return [];
  }
  const threads: ThreadNice[] = [];
  for (const id of ids) {
    try {
      const stat = readFileSync(`${tasks}/${id}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) start at field 3; nice is field 19.
      const close = stat.lastIndexOf(')');
      const nice = Number(stat.slice(close + 2).split(' ')[16]);
      const name = stat.slice(stat.indexOf('(') + 1, close);
      if (Number.isInteger(nice)) threads.push({ tid: Number(id), nice, name });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return threads;
}

/**
 * Puts every thread except the main one (and V8's profiler sampler) `steps` nice levels below the main thread (at most 19;
 * 0 = leave them); returns how many it changed. Relative, so a service started under `nice`
 * keeps the gap. Cheap (one small read per thread), so it can run before each native call and
 * catch pool threads started since. Raising a nice value needs no privilege.
 */
export function lowerWorkerThreadPriority(steps: number): number {
  if (steps <= 0 || process.platform !== 'linux') return 0;
  const target = Math.min(19, getPriority(process.pid) + steps);
  let changed = 0;
  for (const thread of threadNiceValues()) {
    if (thread.tid === process.pid || thread.nice >= target || thread.name.startsWith(V8_NAMED_THREAD))
      continue;
    try {
      setPriority(thread.tid, target);
      changed += 1;
    } catch {
      // Gone already, or not ours to change: the event loop only loses a little headroom.
    }
  }
  return changed;
}
