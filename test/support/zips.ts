// Builds zips in memory for tests: honest ones through yazl, and hostile ones by hand, since yazl refuses
// to write escaping names, lying headers or symlink entries.
import zlib from 'node:zlib';
import yazl from 'yazl';

/** An honest zip of the given files, as an ordinary zip tool would make it. */
export async function zipOf(files: Record<string, string | Buffer>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, content] of Object.entries(files)) {
    zip.addBuffer(typeof content === 'string' ? Buffer.from(content) : content, name, {
      mtime: new Date(2024, 0, 1),
    });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface RawEntry {
  readonly name: string;
  /** Content; deflated unless `method` is 0 or `compressed` is given. */
  readonly data?: Buffer;
  /** 0 = stored, 8 = deflated (default). */
  readonly method?: 0 | 8;
  /** Unix mode written to the external attributes, e.g. 0o120777 for a symlink. */
  readonly mode?: number;
  /** Uncompressed size written to the headers instead of the real one. */
  readonly declaredSize?: number;
  /** CRC-32 written to the headers instead of the real one. */
  readonly crc?: number;
  /** Pre-deflated payload used verbatim; then `size` and `crc` describe the content it inflates to. */
  readonly compressed?: Buffer;
  readonly size?: number;
}

let table: Uint32Array | undefined;
export function crc32(data: Buffer, value = 0): number {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(data, value);
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = ~value >>> 0;
  for (const byte of data) crc = (table[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return ~crc >>> 0;
}

interface Prepared {
  readonly nameBytes: Buffer;
  readonly payload: Buffer;
  readonly method: number;
  readonly crc: number;
  readonly size: number;
  readonly external: number;
}

function prepare(e: RawEntry): Prepared {
  const data = e.data ?? Buffer.alloc(0);
  const method = e.method ?? 8;
  const payload = e.compressed ?? (method === 8 ? zlib.deflateRawSync(data) : data);
  const isDir = e.name.endsWith('/');
  const mode = e.mode ?? (isDir ? 0o40755 : 0o100644);
  return {
    nameBytes: Buffer.from(e.name, 'utf8'),
    payload,
    method,
    crc: e.crc ?? (e.compressed ? 0 : crc32(data)),
    size: e.declaredSize ?? e.size ?? data.length,
    external: ((mode << 16) | (isDir ? 0x10 : 0)) >>> 0,
  };
}

function localHeader(p: Prepared): Buffer {
  const h = Buffer.alloc(30);
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(20, 4);
  h.writeUInt16LE(0x0800, 6); // names are UTF-8
  h.writeUInt16LE(p.method, 8);
  h.writeUInt16LE(0, 10);
  h.writeUInt16LE(0x5821, 12); // 2024-01-01
  h.writeUInt32LE(p.crc, 14);
  h.writeUInt32LE(p.payload.length, 18);
  h.writeUInt32LE(p.size, 22);
  h.writeUInt16LE(p.nameBytes.length, 26);
  h.writeUInt16LE(0, 28);
  return Buffer.concat([h, p.nameBytes]);
}

function centralHeader(p: Prepared, nameBytes: Buffer, offset: number): Buffer {
  const h = Buffer.alloc(46);
  h.writeUInt32LE(0x02014b50, 0);
  h.writeUInt16LE((3 << 8) | 20, 4); // made on Unix, so the mode in the external attributes counts
  h.writeUInt16LE(20, 6);
  h.writeUInt16LE(0x0800, 8);
  h.writeUInt16LE(p.method, 10);
  h.writeUInt16LE(0, 12);
  h.writeUInt16LE(0x5821, 14);
  h.writeUInt32LE(p.crc, 16);
  h.writeUInt32LE(p.payload.length, 20);
  h.writeUInt32LE(p.size, 24);
  h.writeUInt16LE(nameBytes.length, 28);
  h.writeUInt32LE(p.external, 38);
  h.writeUInt32LE(offset, 42);
  return Buffer.concat([h, nameBytes]);
}

function endOfCentralDirectory(count: number, cdSize: number, cdOffset: number): Buffer {
  const h = Buffer.alloc(22);
  h.writeUInt32LE(0x06054b50, 0);
  h.writeUInt16LE(count, 8);
  h.writeUInt16LE(count, 10);
  h.writeUInt32LE(cdSize, 12);
  h.writeUInt32LE(cdOffset, 16);
  return h;
}

/** A zip written byte by byte, with whatever names, modes and header values the entries ask for. */
export function rawZip(entries: readonly RawEntry[]): Buffer {
  const body: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const p = prepare(e);
    central.push(centralHeader(p, p.nameBytes, offset));
    const local = Buffer.concat([localHeader(p), p.payload]);
    body.push(local);
    offset += local.length;
  }
  const cd = Buffer.concat(central);
  return Buffer.concat([...body, cd, endOfCentralDirectory(entries.length, cd.length, offset)]);
}

const MB = 1024 * 1024;

/**
 * Raw deflate of `bytes` zeros, built from 1 MB blocks so no buffer of that size ever exists. Unterminated,
 * the stream lacks its final block, so inflating it to the end fails with "unexpected end of file".
 */
export function deflatedZeros(bytes: number, terminated = true): { compressed: Buffer; crc: number } {
  const zeros = Buffer.alloc(MB);
  // A sync flush ends each block on a byte boundary, so independent blocks concatenate into one stream.
  const block = zlib.deflateRawSync(zeros, { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const parts: Buffer[] = [];
  let crc = 0;
  for (let left = bytes; left > 0; left -= MB) {
    const n = Math.min(left, MB);
    parts.push(
      n === MB
        ? block
        : zlib.deflateRawSync(zeros.subarray(0, n), { finishFlush: zlib.constants.Z_SYNC_FLUSH }),
    );
    crc = crc32(zeros.subarray(0, n), crc);
  }
  if (terminated) parts.push(zlib.deflateRawSync(Buffer.alloc(0)));
  return { compressed: Buffer.concat(parts), crc };
}

/** One deflated entry of `uncompressedBytes` zeros, with honest headers: about 1/1000 of that in size. */
export function zipBomb(uncompressedBytes: number, name = 'zeros.bin'): Buffer {
  const { compressed, crc } = deflatedZeros(uncompressedBytes);
  return rawZip([{ name, compressed, crc, size: uncompressedBytes }]);
}

/**
 * Many central-directory entries that all point at one local header and its deflated data: every entry is
 * honest on its own, but together they inflate to `copies` times the kernel from a zip barely bigger than it.
 */
export function overlappingBomb(copies = 200, kernelBytes = MB): Buffer {
  const { compressed, crc } = deflatedZeros(kernelBytes);
  const p = prepare({ name: 'kernel', compressed, crc, size: kernelBytes });
  const local = Buffer.concat([localHeader(p), p.payload]);
  const central = Array.from({ length: copies }, (_, i) => centralHeader(p, Buffer.from(`f${i}`), 0));
  const cd = Buffer.concat(central);
  return Buffer.concat([local, cd, endOfCentralDirectory(copies, cd.length, local.length)]);
}
