// Checks an uploaded deployment package before it is stored. The zip is untrusted: every entry is really
// inflated and counted (headers can lie), and anything that could write outside the extraction root or
// exhaust a worker's disk is refused before a single byte is kept. Extraction (zip-extract.ts) walks a
// stored package with the same scan, so a package is held to one set of rules whether inspected or written.
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import type { Entry, Options, ZipFile } from 'yauzl';
import type { ApiError } from '../../model/index.js';
import { limits } from '../../model/index.js';
import type { EntryKind, LaidOutEntry } from './zip-rules.js';
import {
  LINK_TARGET_MAX,
  badEntry,
  bomb,
  checkLayout,
  checkLinkChains,
  checkLinkTarget,
  crc32,
  dataProblem,
  describeZipError,
  entryKind,
  invalid,
  nameProblem,
  normalizeName,
  show,
  unixPermissions,
} from './zip-rules.js';

export interface ZipCaps {
  readonly maxUnzipped?: number;
  readonly maxEntries?: number;
  readonly maxRatio?: number;
}

export interface ZipSummary {
  readonly entries: number;
  readonly unzippedSize: number;
}

export interface ScannedEntry {
  /** The name as stored in the zip, for messages. */
  readonly name: string;
  /** The name normalized (see normalizeName): the path relative to the extraction root. */
  readonly path: string;
  readonly kind: EntryKind;
  /** Unix permission bits, 0 for zips made without them (Windows). */
  readonly permissions: number;
}

/** Where a file entry's bytes go; they arrive already counted against the caps. */
export interface FileSink {
  write(chunk: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** Receives the entries of a scan as they pass their checks; symlinks come back in the result instead. */
export interface ZipVisitor {
  directory(entry: ScannedEntry): Promise<void>;
  file(entry: ScannedEntry): Promise<FileSink>;
}

export interface ScanResult extends ZipSummary {
  /** Symlinks by normalized path, with targets already checked to stay inside the package. */
  readonly links: ReadonlyMap<string, string>;
}

/** Small files legitimately compress beyond any ratio (a 10 KB file of spaces), so ratios only count past this. */
const RATIO_FLOOR = 1024 * 1024;
/** autoClose off: the scan closes the zip itself, also when it gives up halfway. */
const OPEN_OPTIONS: Options = {
  lazyEntries: true,
  validateEntrySizes: true,
  strictFileNames: true,
  decodeStrings: true,
  autoClose: false,
};

export async function inspectZip(zip: Buffer, caps: ZipCaps = {}): Promise<ZipSummary> {
  const zf = await openZip(zip);
  try {
    const { entries, unzippedSize } = await scanZip(zf, caps);
    return { entries, unzippedSize };
  } finally {
    zf.close();
  }
}

/**
 * Opens a zip for scanning, from memory or from a file (which is then read as scanned, never whole); the
 * caller closes it.
 */
export function openZip(source: Buffer | string): Promise<ZipFile> {
  return new Promise<ZipFile>((resolve, reject) => {
    const opened = (err: Error | null, zf: ZipFile): void =>
      err ? reject(describeZipError(err)) : resolve(zf);
    if (typeof source === 'string') yauzl.open(source, OPEN_OPTIONS, opened);
    else yauzl.fromBuffer(source, OPEN_OPTIONS, opened);
  });
}

/**
 * Inflates and checks every entry of an opened zip, handing each to `visitor` (when given) as it passes.
 * Throws ApiError at the first broken or hostile entry; by then the visitor may have seen earlier entries.
 */
export async function scanZip(zf: ZipFile, caps: ZipCaps = {}, visitor?: ZipVisitor): Promise<ScanResult> {
  const maxUnzipped = caps.maxUnzipped ?? limits.unzippedBytes;
  const maxEntries = caps.maxEntries ?? limits.zipEntries;
  const maxRatio = caps.maxRatio ?? limits.zipMaxRatio;
  const tooMany = (): ApiError =>
    invalid(`Deployment package has more than ${maxEntries} entries; reduce the number of files in the zip.`);

  if (zf.entryCount > maxEntries) throw tooMany();
  const next = entryReader(zf);
  let entries = 0;
  let total = 0;
  const laidOut: LaidOutEntry[] = [];
  const links = new Map<string, string>();

  /** Counts each inflated chunk and stops the stream the moment a cap is crossed. */
  const onChunk = (entry: Entry, entryBytes: number, chunkBytes: number): ApiError | undefined => {
    total += chunkBytes;
    if (total > maxUnzipped) return invalid(`Unzipped size must be smaller than ${maxUnzipped} bytes`);
    if (entryBytes > RATIO_FLOOR && entryBytes / Math.max(entry.compressedSize, 1) > maxRatio) {
      return bomb(`entry ${show(entry.fileName)} expands to more than ${maxRatio} times its compressed size`);
    }
    // Entries can share one compressed stream, each honest alone; only the whole betrays them.
    if (total > RATIO_FLOOR && total / zf.fileSize > maxRatio) {
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
    const scanned: ScannedEntry = {
      name,
      path: normalizeName(name),
      kind: entryKind(entry),
      permissions: unixPermissions(entry),
    };
    laidOut.push(scanned);
    if (scanned.kind === 'directory') {
      await visitor?.directory(scanned);
    } else if (scanned.kind === 'symlink') {
      const target = await readEntry(zf, entry, LINK_TARGET_MAX, onChunk);
      links.set(scanned.path, checkLinkTarget(name, target));
    } else {
      const sink = await visitor?.file(scanned);
      try {
        await readEntry(zf, entry, 0, onChunk, sink);
      } finally {
        await sink?.close();
      }
    }
  }
  if (links.size > 0) checkLinkChains(laidOut, links);
  checkLayout(laidOut);
  return { entries, unzippedSize: total, links };
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
 * Inflates one entry, feeding the CRC and handing each chunk to `sink` (or dropping it); keeps at most
 * `keepMax` bytes (a symlink's target) and fails beyond that. Chunks are awaited one by one, so a slow
 * disk holds back inflation instead of piling chunks up in memory.
 */
async function readEntry(
  zf: ZipFile,
  entry: Entry,
  keepMax: number,
  onChunk: (entry: Entry, entryBytes: number, chunkBytes: number) => ApiError | undefined,
  sink?: FileSink,
): Promise<Buffer> {
  const name = entry.fileName;
  const stream = await new Promise<Readable>((resolve, reject) =>
    zf.openReadStream(entry, (err, s) => (err ? reject(badEntry(name, dataProblem(err))) : resolve(s))),
  );
  let crc = 0;
  let size = 0;
  const kept: Buffer[] = [];
  const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    for (;;) {
      let step: IteratorResult<Buffer>;
      try {
        step = await chunks.next();
      } catch (err) {
        throw badEntry(name, dataProblem(err as Error));
      }
      if (step.done) break;
      const chunk = step.value;
      size += chunk.length;
      const capped = onChunk(entry, size, chunk.length);
      if (capped) throw capped;
      if (keepMax > 0 && size > keepMax) throw badEntry(name, `symlink target longer than ${keepMax} bytes`);
      crc = crc32(chunk, crc);
      if (keepMax > 0) kept.push(chunk);
      if (sink) await sink.write(chunk);
    }
  } finally {
    stream.destroy();
  }
  if (crc !== entry.crc32)
    throw badEntry(name, 'CRC-32 of the data does not match the header; the file is corrupt');
  return Buffer.concat(kept);
}
