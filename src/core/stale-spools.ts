import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Removes the spool folders (`<prefix><pid>` under `parent`) of processes that are gone:
 * a killed or crashed process never removes its own, so each start sweeps the others'.
 * Folders of live processes, this one's included, are left alone.
 */
export async function sweepStaleSpools(parent: string, prefix: string): Promise<void> {
  const names = await readdir(parent).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || isAlive(pid)) continue;
    await rm(join(parent, name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
