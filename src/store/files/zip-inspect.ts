// Checks an uploaded deployment package before it is stored. The zip is untrusted: every entry is really
// inflated and counted (headers can lie), and anything that could write outside the extraction root or
// exhaust a worker's disk is refused before a single byte is kept.
import path from 'node:path';
import zlib from 'node:zlib';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import type { Entry, ZipFile } from 'yauzl';
import { ApiError, limits } from '../../model/index.js';

export interface ZipCaps {
  readonly maxUnzipped?: number;
  readonly maxEntries?: number;
  readonly maxRatio?: number;
}

export interface ZipSummary {
  readonly entries: number;
  readonly unzippedSize: number;
}

/** Lambda's own wording; the reason in parentheses is Kiln's addition. */
const UNZIP_FAILED = 'Could not unzip uploaded file. Please check your file, then try to upload again.';
/** Small files legitimately compress beyond any ratio (a 10 KB file of spaces), so ratios only count past this. */
const RATIO_FLOOR = 1024 * 1024;
const LINK_TARGET_MAX = 4096;
/** Linux gives up after 40 symlinks in one lookup (ELOOP), so a longer chain cannot lead anywhere. */
const MAX_LINK_HOPS = 40;
/** Bounds the work of resolving symlink chains, which a hostile package could make quadratic. */
const LINK_STEP_BUDGET = 5_000_000;
const SYMLINK = 0o120000;

const invalid = (message: string): ApiError => new ApiError('InvalidParameterValueException', message);
const unzipFailed = (reason: string): ApiError => invalid(`${UNZIP_FAILED} (${reason})`);
const show = (name: string): string => JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}...` : name);
const badEntry = (name: string, reason: string): ApiError => unzipFailed(`entry ${show(name)}: ${reason}`);
const bomb = (detail: string): ApiError =>
  invalid(
    `Deployment package rejected as a zip bomb: ${detail}. Upload an ordinary zip of the function files.`,
  );

/** zlib.crc32 arrived in Node 20.15; engines allow 20.11, so older runtimes get the table version. */
const crc32: (data: Buffer, value: number) => number =
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

/** Why an entry name could land outside the extraction directory, or undefined when it cannot. */
function nameProblem(name: string): string | undefined {
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
function describeZipError(err: Error): ApiError {
  const named = /^(?:invalid characters in fileName|absolute path|invalid relative path): ([\s\S]*)$/.exec(
    err.message,
  );
  if (named?.[1] !== undefined) return badEntry(named[1], nameProblem(named[1]) ?? err.message);
  return unzipFailed(err.message);
}

function dataProblem(err: Error): string {
  if (/bytes in the stream|size mismatch/.test(err.message))
    return `size in the header is wrong (${err.message})`;
  if ('code' in err && typeof err.code === 'string' && err.code.startsWith('Z_')) {
    return `corrupt compressed data (${err.message})`;
  }
  return err.message;
}

export async function inspectZip(zip: Buffer, caps: ZipCaps = {}): Promise<ZipSummary> {
  const maxUnzipped = caps.maxUnzipped ?? limits.unzippedBytes;
  const maxEntries = caps.maxEntries ?? limits.zipEntries;
  const maxRatio = caps.maxRatio ?? limits.zipMaxRatio;
  const tooMany = (): ApiError =>
    invalid(`Deployment package has more than ${maxEntries} entries; reduce the number of files in the zip.`);

  const zf = await new Promise<ZipFile>((resolve, reject) =>
    yauzl.fromBuffer(
      zip,
      { lazyEntries: true, validateEntrySizes: true, strictFileNames: true, decodeStrings: true },
      (err, opened) => (err ? reject(describeZipError(err)) : resolve(opened)),
    ),
  );
  try {
    if (zf.entryCount > maxEntries) throw tooMany();
    const next = entryReader(zf);
    let entries = 0;
    let total = 0;
    const names: string[] = [];
    const links = new Map<string, string>();

    /** Counts each inflated chunk and stops the stream the moment a cap is crossed. */
    const onChunk = (entry: Entry, entryBytes: number, chunkBytes: number): ApiError | undefined => {
      total += chunkBytes;
      if (total > maxUnzipped) return invalid(`Unzipped size must be smaller than ${maxUnzipped} bytes`);
      if (entryBytes > RATIO_FLOOR && entryBytes / Math.max(entry.compressedSize, 1) > maxRatio) {
        return bomb(
          `entry ${show(entry.fileName)} expands to more than ${maxRatio} times its compressed size`,
        );
      }
      // Entries can share one compressed stream, each honest alone; only the whole betrays them.
      if (total > RATIO_FLOOR && total / zip.length > maxRatio) {
        return bomb(`its entries together expand to more than ${maxRatio} times the size of the zip`);
      }
      return undefined;
    };

    for (let entry = await next(); entry; entry = await next()) {
      entries += 1;
      if (entries > maxEntries) throw tooMany();
      const name = entry.fileName;
      const problem = nameProblem(name);
      if (problem) throw badEntry(name, problem);
      names.push(name);
      // A directory entry creates a directory; extractors ignore any data it claims to carry.
      if (name.endsWith('/')) continue;
      const isLink = ((entry.externalFileAttributes >>> 16) & 0o170000) === SYMLINK;
      const kept = await readEntry(zf, entry, isLink ? LINK_TARGET_MAX : 0, onChunk);
      if (isLink) links.set(name, checkLinkTarget(name, kept));
    }
    if (links.size > 0) checkLinkChains(names, links);
    return { entries, unzippedSize: total };
  } finally {
    zf.close();
  }
}

/** Adapts yauzl's lazy entry events to a promise per entry; yauzl reports errors once, on the ZipFile. */
function entryReader(zf: ZipFile): () => Promise<Entry | undefined> {
  let waiting: { resolve: (e: Entry | undefined) => void; reject: (err: unknown) => void } | undefined;
  let failure: ApiError | undefined;
  const settle = (): NonNullable<typeof waiting> | undefined => {
    const w = waiting;
    waiting = undefined;
    return w;
  };
  zf.on('entry', (entry: Entry) => settle()?.resolve(entry));
  zf.on('end', () => settle()?.resolve(undefined));
  zf.on('error', (err: Error) => {
    failure = describeZipError(err);
    settle()?.reject(failure);
  });
  return () =>
    new Promise((resolve, reject) => {
      if (failure) return reject(failure);
      waiting = { resolve, reject };
      zf.readEntry();
    });
}

/**
 * Inflates one entry, discarding its bytes after counting them and feeding the CRC; keeps at most
 * `keepMax` bytes (a symlink's target) and fails beyond that.
 */
async function readEntry(
  zf: ZipFile,
  entry: Entry,
  keepMax: number,
  onChunk: (entry: Entry, entryBytes: number, chunkBytes: number) => ApiError | undefined,
): Promise<Buffer> {
  const name = entry.fileName;
  const stream = await new Promise<Readable>((resolve, reject) =>
    zf.openReadStream(entry, (err, s) => (err ? reject(badEntry(name, dataProblem(err))) : resolve(s))),
  );
  let crc = 0;
  let size = 0;
  const kept: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (err: ApiError): void => {
      if (settled) return;
      settled = true;
      stream.destroy();
      reject(err);
    };
    stream.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      const capped = onChunk(entry, size, chunk.length);
      if (capped) return fail(capped);
      if (keepMax > 0 && size > keepMax)
        return fail(badEntry(name, `symlink target longer than ${keepMax} bytes`));
      crc = crc32(chunk, crc);
      if (keepMax > 0) kept.push(chunk);
    });
    stream.on('error', (err: Error) => fail(badEntry(name, dataProblem(err))));
    stream.on('end', () => {
      if (settled) return;
      settled = true;
      resolve();
    });
  });
  if (crc !== entry.crc32)
    throw badEntry(name, 'CRC-32 of the data does not match the header; the file is corrupt');
  return Buffer.concat(kept);
}

/** Returns the link target as extractors will write it, after refusing targets that leave the package. */
function checkLinkTarget(name: string, data: Buffer): string {
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
function checkLinkChains(names: readonly string[], links: ReadonlyMap<string, string>): void {
  const budget = { steps: LINK_STEP_BUDGET };
  for (const [name, target] of links) {
    if (!staysInside(`${path.posix.dirname(name)}/${target}`, links, budget)) {
      throw badEntry(name, 'symlink target leaves the package root through another symlink');
    }
  }
  for (const name of names) {
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
