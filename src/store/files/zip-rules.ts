// The rules that keep an untrusted zip inside its root, shared by inspection at upload (zip-inspect.ts) and
// extraction for execution (zip-extract.ts): both must read an entry's name, kind and link target the same
// way, or a package inspected as harmless could be written as something else.
import path from 'node:path';
import zlib from 'node:zlib';
import type { Entry } from 'yauzl';
import { ApiError } from '../../model/index.js';

/** Lambda's own wording; the reason in parentheses is Kiln's addition. */
const UNZIP_FAILED = 'Could not unzip uploaded file. Please check your file, then try to upload again.';
export const LINK_TARGET_MAX = 4096;
/** Linux gives up after 40 symlinks in one lookup (ELOOP), so a longer chain cannot lead anywhere. */
const MAX_LINK_HOPS = 40;
/** Bounds the work of resolving symlink chains, which a hostile package could make quadratic. */
const LINK_STEP_BUDGET = 5_000_000;
const FILE_TYPE = 0o170000;
const SYMLINK = 0o120000;

export const invalid = (message: string): ApiError => new ApiError('InvalidParameterValueException', message);
export const unzipFailed = (reason: string): ApiError => invalid(`${UNZIP_FAILED} (${reason})`);
export const show = (name: string): string =>
  JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}...` : name);
export const badEntry = (name: string, reason: string): ApiError =>
  unzipFailed(`entry ${show(name)}: ${reason}`);
export const bomb = (detail: string): ApiError =>
  invalid(
    `Deployment package rejected as a zip bomb: ${detail}. Upload an ordinary zip of the function files.`,
  );

/** zlib.crc32 arrived in Node 20.15; engines allow 20.11, so older runtimes get the table version. */
export const crc32: (data: Buffer, value: number) => number =
  typeof zlib.crc32 === 'function' ? zlib.crc32 : tableCrc32;

let crcTable: Uint32Array | undefined;
function tableCrc32(data: Buffer, value: number): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = ~value >>> 0;
  for (const byte of data) crc = (crcTable[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return ~crc >>> 0;
}

export type EntryKind = 'directory' | 'file' | 'symlink';

/**
 * A trailing "/" makes a directory whatever the attributes say (extractors ignore the data it claims to
 * carry); the unix file type in the high external-attribute bits makes a symlink. Zips made on Windows
 * carry no unix mode, so their entries are plain files.
 */
export function entryKind(entry: Entry): EntryKind {
  if (entry.fileName.endsWith('/')) return 'directory';
  return ((entry.externalFileAttributes >>> 16) & FILE_TYPE) === SYMLINK ? 'symlink' : 'file';
}

/** Permission bits from the entry's unix mode; 0 when the zip was made where there are none (Windows). */
export function unixPermissions(entry: Entry): number {
  return (entry.externalFileAttributes >>> 16) & 0o7777;
}

/**
 * The path an entry names once "." segments, doubled and trailing slashes are gone ("." for the root), so
 * that `./a` and `a//` are known to be the same file as `a`. Only for names nameProblem accepted.
 */
export function normalizeName(name: string): string {
  return path.posix.normalize(name).replace(/\/+$/, '') || '.';
}

/** Why an entry name could land outside the extraction directory, or undefined when it cannot. */
export function nameProblem(name: string): string | undefined {
  if (name === '') return 'empty file name';
  if (name.includes('\0')) return 'file name contains a NUL character';
  if (name.includes('\\'))
    return 'file name contains "\\", which extractors read as a path separator; use "/"';
  if (name.startsWith('/')) return 'absolute path; entries must be relative to the package root';
  if (/^[a-zA-Z]:/.test(name)) return 'drive-letter path; entries must be relative to the package root';
  if (name.split('/').includes('..')) return 'path contains ".." and could escape the package root';
  return undefined;
}

/** yauzl vets names itself and reports them as plain errors; recover the entry so the caller learns which. */
export function describeZipError(err: Error): ApiError {
  const named = /^(?:invalid characters in fileName|absolute path|invalid relative path): ([\s\S]*)$/.exec(
    err.message,
  );
  if (named?.[1] !== undefined) return badEntry(named[1], nameProblem(named[1]) ?? err.message);
  return unzipFailed(err.message);
}

export function dataProblem(err: Error): string {
  if (/bytes in the stream|size mismatch/.test(err.message))
    return `size in the header is wrong (${err.message})`;
  if ('code' in err && typeof err.code === 'string' && err.code.startsWith('Z_')) {
    return `corrupt compressed data (${err.message})`;
  }
  return err.message;
}

/** Returns the link target as extractors will write it, after refusing targets that leave the package. */
export function checkLinkTarget(name: string, data: Buffer): string {
  const raw = data.toString('utf8');
  if (raw === '') throw badEntry(name, 'symlink has an empty target');
  if (raw.includes('\0')) throw badEntry(name, 'symlink target contains a NUL character');
  const target = raw.replaceAll('\\', '/');
  if (target.startsWith('/') || /^[a-zA-Z]:/.test(target)) {
    throw badEntry(name, `symlink target ${show(raw)} is absolute; links must point inside the package`);
  }
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(name), target));
  if (resolved === '..' || resolved.startsWith('../')) {
    throw badEntry(name, `symlink target ${show(raw)} points outside the package root`);
  }
  return target;
}

/**
 * Lexical checks miss chains: with `a -> .`, a link `a/b -> ..` or `x -> a/..` looks inside but lands one
 * level above the root once extracted. Resolve every link target, and every entry written through a link,
 * the way the kernel would after extraction.
 */
export function checkLinkChains(
  entries: readonly { readonly path: string }[],
  links: ReadonlyMap<string, string>,
): void {
  const budget = { steps: LINK_STEP_BUDGET };
  for (const [name, target] of links) {
    if (!staysInside(`${path.posix.dirname(name)}/${target}`, links, budget)) {
      throw badEntry(name, 'symlink target leaves the package root through another symlink');
    }
  }
  for (const { path: name } of entries) {
    let viaLink = false;
    for (let i = name.indexOf('/'); i > 0 && !viaLink; i = name.indexOf('/', i + 1)) {
      viaLink = links.has(name.slice(0, i));
    }
    if (viaLink && !staysInside(path.posix.dirname(name), links, budget)) {
      throw badEntry(name, 'path leaves the package root through a symlink');
    }
  }
}

function staysInside(start: string, links: ReadonlyMap<string, string>, budget: { steps: number }): boolean {
  const todo = start.split('/').reverse();
  const at: string[] = [];
  let hops = 0;
  for (let part = todo.pop(); part !== undefined; part = todo.pop()) {
    if (--budget.steps < 0)
      throw unzipFailed('symlinks are chained too deeply to check; remove the symlinks');
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (at.length === 0) return false;
      at.pop();
      continue;
    }
    at.push(part);
    const target = links.get(at.join('/'));
    if (target === undefined) continue;
    if (++hops > MAX_LINK_HOPS) return true;
    if (target.startsWith('/')) return false;
    at.pop();
    todo.push(...target.split('/').reverse());
  }
  return true;
}

export interface LaidOutEntry {
  readonly name: string;
  /** normalizeName's form. */
  readonly path: string;
  readonly kind: EntryKind;
}

/**
 * Refuses packages no extractor can lay out, which extraction would meet only at the first Invoke: a file or a
 * symlink where another entry needs a directory, entries of different kinds at one path, and entries inside a
 * symlinked directory. An entry named twice as the same kind is fine: the later one replaces the earlier, as
 * unzip does. Sorted once and searched, so deep or numerous paths cost n log n comparisons.
 */
export function checkLayout(entries: readonly LaidOutEntry[]): void {
  const kinds = new Map<string, EntryKind>();
  for (const e of entries) {
    if (e.path === '.' && e.kind !== 'directory') {
      throw badEntry(e.name, `a ${e.kind} cannot replace the package root`);
    }
    const before = kinds.get(e.path);
    if (before !== undefined && before !== e.kind) {
      throw badEntry(e.name, `cannot be written as a ${e.kind}: the package also has a ${before} there`);
    }
    kinds.set(e.path, e.kind);
  }
  const sorted = [...kinds.keys()].sort();
  for (const [at, kind] of kinds) {
    if (kind === 'directory') continue;
    const prefix = `${at}/`;
    const under = sorted[lowerBound(sorted, prefix)];
    if (under === undefined || !under.startsWith(prefix)) continue;
    const name = entries.find((e) => e.path === under)?.name ?? under;
    throw badEntry(
      name,
      kind === 'file'
        ? `needs a directory "${at}" where the package has a file`
        : `lies under the symlink "${at}"; entries inside a symlinked directory are not supported`,
    );
  }
}

/** The index of the first element of `sorted` not below `key`. */
function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] ?? '') < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
