// Packs a folder into a deployment zip the way Lambda expects to unpack it: unix modes kept (a
// `bootstrap` must stay executable), symlinks kept as links, and byte-identical output for identical
// content so that CodeSha256 changes only when the code does.
import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import yazl from 'yazl';

/** Local midnight, so the DOS date field reads 1980-01-01 00:00 in every time zone. */
const fixedMtime = new Date(1980, 0, 1, 0, 0, 0);
// The Info-ZIP UTC field would encode the local offset into the bytes; the DOS field alone is stable.
const entryOptions = { mtime: fixedMtime, forceDosTimestamp: true };

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

type Entry =
  | { kind: 'file'; abs: string; path: string; mode: number }
  | { kind: 'link'; path: string; target: string; mode: number }
  | { kind: 'dir'; path: string; mode: number };

export async function zipDirectory(dir: string): Promise<Buffer> {
  const root = resolve(dir);
  const rootStat = await stat(root).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new Error(`${dir}: no such directory`);
    throw err;
  });
  if (!rootStat.isDirectory()) throw new Error(`${dir}: not a directory`);
  // Absolute link targets may name the folder through its real path (e.g. /tmp → /private/tmp).
  const roots = [root, await realpath(root)];

  const entries: Entry[] = [];
  await walk(root, '', roots, entries);
  if (!entries.some((e) => e.kind !== 'dir'))
    throw new Error(`${dir}: the directory is empty; nothing to deploy`);

  const zip = new yazl.ZipFile();
  for (const e of entries) {
    if (e.kind === 'file') zip.addFile(e.abs, e.path, { ...entryOptions, mode: e.mode });
    else if (e.kind === 'link')
      zip.addBuffer(Buffer.from(e.target), e.path, { ...entryOptions, mode: e.mode });
    else zip.addEmptyDirectory(e.path, { ...entryOptions, mode: e.mode });
  }
  zip.end();
  return collect(zip);
}

async function walk(absDir: string, relDir: string, roots: string[], out: Entry[]): Promise<void> {
  // Code-point order, not locale order, so the result does not depend on the machine's locale.
  const names = (await readdir(absDir)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.length === 0 && relDir !== '') {
    // Kept so that a folder the code expects to exist (e.g. a cache dir) survives the round trip.
    out.push({ kind: 'dir', path: `${relDir}/`, mode: (await lstat(absDir)).mode });
    return;
  }
  for (const name of names) {
    if (name === '.git') continue;
    const abs = join(absDir, name);
    const path = relDir === '' ? name : `${relDir}/${name}`;
    const st = await lstat(abs);
    if (st.isDirectory()) {
      await walk(abs, path, roots, out);
    } else if (st.isFile()) {
      out.push({ kind: 'file', abs, path, mode: st.mode });
    } else if (st.isSymbolicLink()) {
      const target = await insideTarget(abs, path, roots);
      out.push({ kind: 'link', path, target, mode: S_IFLNK | (st.mode & ~S_IFMT & 0o7777) });
    } else {
      throw new Error(`${path}: not a regular file, directory or symlink; cannot put it in a zip`);
    }
  }
}

/** The link's target as a relative path, or an error if it leads outside the folder being zipped. */
async function insideTarget(abs: string, path: string, roots: string[]): Promise<string> {
  const raw = await readlink(abs);
  const resolved = resolve(dirname(abs), raw);
  const root = roots.find((r) => isInside(r, resolved));
  if (root === undefined) {
    throw new Error(`${path}: symlink points outside the directory (-> ${raw}); replace it with a copy`);
  }
  if (!isAbsolute(raw)) return raw.split(sep).join('/');
  // An absolute target would dangle once unzipped elsewhere; the relative form means the same file.
  const fromDir = dirname(join(root, path));
  return relative(fromDir, resolved).split(sep).join('/') || '.';
}

function isInside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

function collect(zip: yazl.ZipFile): Promise<Buffer> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    const stream = zip.outputStream;
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', rej);
    // yazl reports unreadable files on the ZipFile, not on the stream.
    zip.on('error', rej);
    stream.on('end', () => res(Buffer.concat(chunks)));
  });
}
