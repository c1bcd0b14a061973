/**
 * Loaded with `node --import` (NODE_OPTIONS, where `--cpu-prof` is not allowed): profiles the
 * main thread from the start and writes the profile to $VOICE_STACK_CPU_PROFILE on exit
 * (process.exit included). $VOICE_STACK_CPU_PROFILE_INTERVAL_US sets the sampling interval.
 * The in-process inspector session answers synchronously, so the exit handler can stop it.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const out = process.env.VOICE_STACK_CPU_PROFILE;
if (out !== undefined && out !== '') {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', {
    interval: Number(process.env.VOICE_STACK_CPU_PROFILE_INTERVAL_US ?? 1000),
  });
  session.post('Profiler.start');
  process.once('exit', () => {
    session.post('Profiler.stop', (error, result) => {
      if (error === null) writeFileSync(out, JSON.stringify(result.profile));
    });
  });
}
