// Writes a package out as a directory tree that sandboxes run from. The zip passed inspection when it was
// uploaded, but neither the file on disk nor the upload's bytes are trusted further than that: they are
// scanned again with the same checks (zip-inspect.ts) while being written, and the writing itself never
// follows a link. Symlink entries are created last, after every file and directory, so no write can pass
// through one.
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FileSink, ScannedEntry, ZipCaps, ZipSummary } from './zip-inspect.js';
import { openZip, scanZip } from './zip-inspect.js';
import { badEntry } from './zip-rules.js';

/** Read-only for everyone but root: sandboxes run as other uids and must not change shared code. */
const DIR_MODE = 0o555;
const FILE_MODE = 0o444;
const EXEC_MODE = 0o555;
const CREATE_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Extracts a zip (a stored file's path, or the bytes of one being stored) into `root`, an empty directory the
 * caller created, private to this process, and disposes of (see removeTree) if this throws. Nothing is
 * fsynced: the tree can always be rebuilt from the zip, so it only has to be whole across a crash of this
 * process (the page cache keeps what was written), and the caller must not trust it after a crash of the
 * machine (see FileCodeStore's boot marker).
 */
export async function extractZip(
  zip: Buffer | string,
  root: string,
  caps: ZipCaps = {},
): Promise<ZipSummary> {
  const base = path.resolve(root);
  const dirs = new Set<string>(['.']);
  const files = new Set<string>();

  const inside = (entry: ScannedEntry, rel: string): string => {
    const abs = path.resolve(base, rel);
    // normalizeName and nameProblem already rule this out; a second opinion costs nothing.
    if (abs !== base && !abs.startsWith(base + path.sep))
      throw badEntry(entry.name, 'lands outside the root');
    return abs;
  };
  const makeDirs = async (entry: ScannedEntry, rel: string): Promise<void> => {
    if (dirs.has(rel)) return;
    await makeDirs(entry, path.posix.dirname(rel));
    try {
      await fs.mkdir(inside(entry, rel), { mode: 0o700 });
    } catch (err) {
      if (code(err) !== 'EEXIST' || !(await fs.lstat(inside(entry, rel))).isDirectory()) {
        throw clash(entry, `needs a directory "${rel}" where the package has a file`, err);
      }
    }
    dirs.add(rel);
  };

  const zf = await openZip(zip);
  try {
    const result = await scanZip(zf, caps, {
      directory: (entry) => makeDirs(entry, entry.path),
      file: async (entry): Promise<FileSink> => {
        if (entry.path === '.') throw badEntry(entry.name, 'a file cannot replace the package root');
        await makeDirs(entry, path.posix.dirname(entry.path));
        const file = inside(entry, entry.path);
        // A later entry of the same name replaces the earlier one, as unzip does. The earlier file is
        // already read-only, so it is unlinked rather than truncated; a directory there is an error (EEXIST
        // from the open). Only then: the root starts empty, and each unlink is a thread-pool round trip.
        if (files.has(entry.path)) {
          await fs.unlink(file).catch((err: unknown) => {
            if (code(err) !== 'ENOENT') throw clash(entry, 'cannot be written as a file', err);
          });
        }
        files.add(entry.path);
        const fh = await fs.open(file, CREATE_FILE, 0o600).catch((err: unknown) => {
          throw clash(entry, 'cannot be written as a file', err);
        });
        return {
          async write(chunk) {
            for (let at = 0; at < chunk.length;) {
              at += (await fh.write(chunk, at, chunk.length - at)).bytesWritten;
            }
          },
          async close() {
            try {
              // Zips made on Windows carry no mode, so their files are plain data, never executable.
              await fh.chmod(entry.permissions & 0o111 ? EXEC_MODE : FILE_MODE);
            } finally {
              await fh.close();
            }
          },
        };
      },
    });

    // scanZip's checkLayout has refused a symlink at the root, under another symlink, or beside an entry of
    // the same path; what is left can only fail here by a race with something else writing under `root`.
    for (const [rel, target] of result.links) {
      const entry: ScannedEntry = { name: rel, path: rel, kind: 'symlink', permissions: 0 };
      await makeDirs(entry, path.posix.dirname(rel));
      await fs.symlink(target, inside(entry, rel)).catch((err: unknown) => {
        throw clash(entry, 'is a symlink but another entry has the same name', err);
      });
    }

    for (const rel of dirs) {
      await fs.chmod(inside({ name: rel, path: rel, kind: 'directory', permissions: 0 }, rel), DIR_MODE);
    }
    return { entries: result.entries, unzippedSize: result.unzippedSize };
  } finally {
    zf.close();
  }
}

/** Removes a tree extractZip wrote (or half wrote): its read-only directories must be opened up first. */
export async function removeTree(root: string): Promise<void> {
  const open = async (dir: string): Promise<void> => {
    try {
      await fs.chmod(dir, 0o700);
    } catch (err) {
      if (code(err) === 'ENOENT') return;
      throw err;
    }
    // withFileTypes reports a symlink as a symlink, so this never descends out of the tree.
    for (const child of await fs.readdir(dir, { withFileTypes: true })) {
      if (child.isDirectory()) await open(path.join(dir, child.name));
    }
  };
  const stat = await fs.lstat(root).catch(() => undefined);
  if (stat?.isDirectory()) await open(root);
  await fs.rm(root, { recursive: true, force: true });
}

/** Makes a rename in `dir` survive a power loss: the new directory entry is only durable once the directory is. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function clash(entry: ScannedEntry, what: string, err: unknown): Error {
  return badEntry(entry.name, `${what} (${code(err) ?? String(err)})`);
}
