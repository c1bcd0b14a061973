/**
 * Loaded with `node --import` (NODE_OPTIONS, where `--cpu-prof` is not allowed): profiles the
 * main thread from the start and, on exit (process.exit included), writes the profile to
 * $VOICE_STACK_CPU_PROFILE ($VOICE_STACK_CPU_PROFILE_INTERVAL_US sets the sampling interval;
 * the in-process inspector session answers synchronously, so the exit handler can stop it).
 *
 * Beside it, `<profile>.stalls.json`: a 1 ms timer reads the main thread's own CPU time
 * (/proc/self/task/<pid>/schedstat) at every tick, so the gap between two ticks says how long
 * the event loop was held and how much of that it spent on a CPU. The CPU time does not grow
 * while the thread waits for a core, so it measures a task the same on a loaded machine as on
 * a quiet one; the ticks delimit turns of the event loop, which a sampled profile cannot.
 */
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

export interface EventLoopStall {
  /** When the late tick ran, in µs of the monotonic clock (the profile's). */
  readonly endUs: number;
  /** Since the tick before. */
  readonly wallMs: number;
  /** The main thread's CPU time in that gap. */
  readonly cpuMs: number;
}

const out = process.env.VOICE_STACK_CPU_PROFILE;
/** Gaps shorter than this are the timer's own cadence; only longer ones are kept. */
const KEEP_WALL_MS = 1.5;

function stallRecorder(): () => EventLoopStall[] {
  const stalls: EventLoopStall[] = [];
  let fd: number;
  try {
    fd = openSync(`/proc/self/task/${process.pid}/schedstat`, 'r');
  } catch {
    return () => stalls;
  }
  const buffer = Buffer.alloc(128);
  const cpuNs = () => {
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    return Number(buffer.toString('latin1', 0, length).split(' ')[0]);
  };
  let lastWall = process.hrtime.bigint();
  let lastCpu = cpuNs();
  const timer = setInterval(() => {
    const wall = process.hrtime.bigint();
    const cpu = cpuNs();
    const wallMs = Number(wall - lastWall) / 1e6;
    if (wallMs >= KEEP_WALL_MS)
      stalls.push({ endUs: Number(wall / 1000n), wallMs, cpuMs: (cpu - lastCpu) / 1e6 });
    lastWall = wall;
    lastCpu = cpu;
  }, 1);
  timer.unref();
  return () => {
    clearInterval(timer);
    closeSync(fd);
    return stalls;
  };
}

if (out !== undefined && out !== '') {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', {
    interval: Number(process.env.VOICE_STACK_CPU_PROFILE_INTERVAL_US ?? 1000),
  });
  session.post('Profiler.start');
  const stalls = stallRecorder();
  process.once('exit', () => {
    writeFileSync(`${out}.stalls.json`, JSON.stringify(stalls()));
    session.post('Profiler.stop', (error, result) => {
      if (error === null) writeFileSync(out, JSON.stringify(result.profile));
    });
  });
}
