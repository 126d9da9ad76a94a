// Facts about host paths that decide whether a sandbox can start. bwrap runs as the sandbox's unprivileged
// uid, and even `--bind-fd` re-resolves the path, so every directory above a bind source must be searchable
// by that uid; checking first turns bwrap's bare EACCES into a message that says which directory to fix.
import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import { lstat, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { RootEntry } from './bwrap-args.js';

export async function assertReachable(what: string, target: string, uid: number, gid: number): Promise<void> {
  let real: string;
  try {
    real = await realpath(target);
  } catch (err) {
    throw new Error(`${what} ${target} does not exist: ${(err as Error).message}`, { cause: err });
  }
  const parts = real.split(path.sep).filter(Boolean);
  const dirs = parts.map((_, i) => path.sep + parts.slice(0, i).join(path.sep));
  // All at once: on the cold-start path, one thread-pool round trip per directory in a row adds up.
  const stats = await Promise.all(dirs.map((dir) => stat(dir)));
  for (const [i, dir] of dirs.entries()) {
    const st = stats[i] as Stats;
    const bit = st.uid === uid ? 0o100 : st.gid === gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) {
      throw new Error(
        `${what} ${target} is not reachable by the sandbox user (uid ${uid}): ${dir} has mode ` +
          `${(st.mode & 0o777).toString(8).padStart(4, '0')}; make every directory above it searchable (chmod o+x ${dir})`,
      );
    }
  }
}

export async function assertSocket(what: string, file: string): Promise<void> {
  const st = await lstat(file).catch((err: Error) => {
    throw new Error(`${what} ${file} does not exist: ${err.message}`, { cause: err });
  });
  if (!st.isSocket()) throw new Error(`${what} ${file} is not a unix socket`);
}

/** Mirrors the host's top-level layout: merged-/usr hosts get symlinks, older ones read-only binds. */
export function hostRootEntries(root = '/'): RootEntry[] {
  const entries: RootEntry[] = [];
  for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const p = path.join(root, name);
    try {
      const st = lstatSync(p);
      if (st.isSymbolicLink()) entries.push({ name, kind: 'symlink', target: readlinkSync(p) });
      else if (st.isDirectory()) entries.push({ name, kind: 'dir' });
    } catch {
      // Absent on this host (lib32, libx32 usually are): nothing to mirror.
    }
  }
  return entries;
}
