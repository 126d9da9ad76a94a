import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/model/index.js';
import { inspectZip } from '../../src/store/files/index.js';
import { deflatedZeros, overlappingBomb, rawZip, zipBomb, zipOf } from '../support/zips.js';

const UNZIP_FAILED = 'Could not unzip uploaded file. Please check your file, then try to upload again.';
const MB = 1024 * 1024;
const SYMLINK = 0o120777;

/** Asserts an InvalidParameterValueException whose message matches every pattern given. */
async function rejects(zip: Buffer, patterns: readonly (string | RegExp)[], caps = {}): Promise<ApiError> {
  const err = await inspectZip(zip, caps).then(
    () => assert.fail('expected the zip to be rejected'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApiError, `expected ApiError, got ${String(err)}`);
  assert.equal(err.code, 'InvalidParameterValueException');
  for (const p of patterns) {
    if (typeof p === 'string')
      assert.ok(err.message.includes(p), `${JSON.stringify(err.message)} lacks ${p}`);
    else assert.match(err.message, p);
  }
  return err;
}

const link = (name: string, target: string) => ({ name, data: Buffer.from(target), mode: SYMLINK });

describe('inspectZip accepts ordinary packages', () => {
  it('counts entries and the real unzipped size', async () => {
    const zip = await zipOf({
      'index.js': 'exports.handler = async () => 1;\n',
      'lib/data.txt': 'x'.repeat(5000),
    });
    assert.deepEqual(await inspectZip(zip), { entries: 2, unzippedSize: 33 + 5000 });
  });

  it('counts directory entries, allows duplicate names and stored entries', async () => {
    const zip = rawZip([
      { name: 'lib/' },
      { name: 'lib/a.txt', data: Buffer.from('hello'), method: 0 },
      { name: 'lib/a.txt', data: Buffer.from('hello again') },
    ]);
    assert.deepEqual(await inspectZip(zip), { entries: 3, unzippedSize: 5 + 11 });
  });

  it('accepts entries named twice as the same kind, and a directory entry after its contents', async () => {
    const zip = rawZip([
      { name: 'lib/a.js', data: Buffer.from('x') },
      { name: 'lib/' },
      { name: 'lib/' },
      link('lib/self', '.'),
      link('lib/self', '..'),
    ]);
    assert.equal((await inspectZip(zip)).entries, 5);
  });

  it('accepts an empty zip and incompressible data', async () => {
    assert.deepEqual(await inspectZip(await zipOf({})), { entries: 0, unzippedSize: 0 });
    const zip = await zipOf({ 'blob.bin': randomBytes(3 * MB) });
    assert.deepEqual(await inspectZip(zip), { entries: 1, unzippedSize: 3 * MB });
  });

  it('accepts symlinks that stay inside the package', async () => {
    const zip = rawZip([
      { name: 'index.js', data: Buffer.from('x') },
      link('node_modules/.bin/tool', '../tool/bin/tool.js'),
      link('lib/self', '.'),
      link('lib/up', '../index.js'),
    ]);
    assert.equal((await inspectZip(zip)).entries, 4);
  });

  it('accepts 1 MB of zeros under the real ratio cap (deflate tops out near 1032:1)', async () => {
    const zip = await zipOf({ 'zeros.bin': Buffer.alloc(2 * MB) });
    assert.equal((await inspectZip(zip)).unzippedSize, 2 * MB);
  });
});

describe('inspectZip rejects broken archives', () => {
  it('rejects bytes that are not a zip', async () => {
    await rejects(Buffer.from('definitely not a zip file'), [UNZIP_FAILED, /\(.+\)$/]);
    await rejects(Buffer.alloc(0), [UNZIP_FAILED]);
  });

  it('rejects a truncated zip', async () => {
    const zip = await zipOf({ 'index.js': 'x'.repeat(1000), 'b.js': 'y'.repeat(1000) });
    await rejects(zip.subarray(0, zip.length - 30), [UNZIP_FAILED]);
    await rejects(zip.subarray(0, 40), [UNZIP_FAILED]);
  });

  it('rejects a central directory pointing past the data', async () => {
    const zip = rawZip([{ name: 'a.txt', data: Buffer.from('hello world') }]);
    const cdOffset = zip.readUInt32LE(zip.length - 6);
    const broken = Buffer.from(zip);
    broken.writeUInt32LE(1000, cdOffset + 42); // local header offset
    await rejects(broken, [UNZIP_FAILED, 'a.txt']);
  });

  it('rejects a CRC mismatch', async () => {
    const zip = rawZip([{ name: 'a.txt', data: Buffer.from('hello world'), crc: 0x12345678 }]);
    await rejects(zip, [UNZIP_FAILED, '"a.txt"', 'CRC-32']);
  });

  it('rejects headers that lie about the uncompressed size', async () => {
    const data = Buffer.from('z'.repeat(10_000));
    await rejects(rawZip([{ name: 'small.txt', data, declaredSize: 100 }]), [
      UNZIP_FAILED,
      '"small.txt"',
      'size',
    ]);
    await rejects(rawZip([{ name: 'big.txt', data, declaredSize: 20_000 }]), [
      UNZIP_FAILED,
      '"big.txt"',
      'size',
    ]);
    await rejects(rawZip([{ name: 'stored.txt', data, method: 0, declaredSize: 5 }]), [UNZIP_FAILED, 'size']);
  });

  it('rejects corrupt deflate data', async () => {
    const compressed = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x01]);
    await rejects(rawZip([{ name: 'bad.bin', compressed, size: 10 }]), [UNZIP_FAILED, '"bad.bin"']);
  });
});

describe('inspectZip rejects entries that escape the package root', () => {
  const cases: [string, string][] = [
    ['../evil', '..'],
    ['lib/../../evil', '..'],
    ['/etc/passwd', 'absolute'],
    ['C:/Windows/evil.dll', 'drive-letter'],
    ['..\\evil', '\\'],
    ['lib\\..\\..\\evil', '\\'],
    ['a\0b', 'NUL'],
  ];
  for (const [name, rule] of cases) {
    it(`rejects ${JSON.stringify(name)}`, async () => {
      const zip = rawZip([
        { name: 'ok.txt', data: Buffer.from('ok') },
        { name, data: Buffer.from('pwned') },
      ]);
      await rejects(zip, [UNZIP_FAILED, JSON.stringify(name), rule]);
    });
  }

  it('rejects symlinks pointing outside, absolute or too long', async () => {
    await rejects(rawZip([link('lib/escape', '../../etc/passwd')]), ['"lib/escape"', 'outside the package']);
    await rejects(rawZip([link('passwd', '/etc/passwd')]), ['"passwd"', 'absolute']);
    await rejects(rawZip([link('win', '..\\..\\x')]), ['"win"', 'outside the package']);
    await rejects(rawZip([link('long', 'a/'.repeat(3000))]), ['"long"', 'longer than 4096']);
  });

  it('rejects entries no extractor can lay out, in either order', async () => {
    const file = (name: string) => ({ name, data: Buffer.from(name) });
    await rejects(rawZip([file('a'), file('a/b')]), [
      '"a/b"',
      'needs a directory "a" where the package has a file',
    ]);
    await rejects(rawZip([file('a/b'), file('a')]), ['"a/b"', 'needs a directory "a"']);
    await rejects(rawZip([{ name: 'd/' }, file('d')]), ['"d"', 'the package also has a directory there']);
    await rejects(rawZip([file('d'), { name: 'd/' }]), ['"d/"', 'the package also has a file there']);
    await rejects(rawZip([link('l', 'x'), file('l')]), ['"l"', 'the package also has a symlink there']);
    await rejects(rawZip([file('sub/f'), link('up', 'sub'), file('up/f')]), [
      '"up/f"',
      'under the symlink "up"',
    ]);
    await rejects(rawZip([link('.', 'x')]), ['cannot replace the package root']);
    // Many deep paths stay cheap to check (sorted once, binary search per entry).
    const deep = Array.from({ length: 2000 }, (_, i) => file(`${'d/'.repeat(500)}${i}`));
    await rejects(rawZip([...deep, file('d/d')]), ['needs a directory "d/d" where the package has a file']);
  });

  it('rejects symlink chains that only escape once links are followed', async () => {
    // `a` is the root itself, so `a/b -> ..` and `x -> a/..` both name the root's parent.
    await rejects(rawZip([link('a', '.'), link('a/b', '..')]), ['"a/b"', /outside|through/]);
    await rejects(rawZip([link('a', '.'), link('x', 'a/..')]), ['"x"', 'through another symlink']);
    // A file written through a link that leaves the root.
    await rejects(rawZip([link('d', 'sub/..'), link('sub', '.'), { name: 'd/f', data: Buffer.from('x') }]), [
      'symlink',
    ]);
  });
});

describe('inspectZip caps what a package may cost', () => {
  it('rejects a bomb over a small unzipped cap', async () => {
    await rejects(zipBomb(4 * MB), ['Unzipped size must be smaller than 1048576 bytes'], { maxUnzipped: MB });
  });

  it('stops inflating as soon as the running total crosses the cap', async () => {
    // The deflate stream lacks its end: inflating it fully fails as corrupt, so only an early stop
    // can report the size instead.
    const { compressed, crc } = deflatedZeros(8 * MB, false);
    const zip = rawZip([{ name: 'zeros.bin', compressed, crc, size: 8 * MB }]);
    await rejects(zip, [UNZIP_FAILED, 'corrupt compressed data']);
    await rejects(zip, ['Unzipped size must be smaller than 2097152 bytes'], { maxUnzipped: 2 * MB });
  });

  it('counts every entry toward the cap', async () => {
    const zip = await zipOf({ a: Buffer.alloc(600_000, 1), b: Buffer.alloc(600_000, 2) });
    assert.equal((await inspectZip(zip, { maxUnzipped: 1_200_000 })).unzippedSize, 1_200_000);
    await rejects(zip, ['Unzipped size must be smaller than 1199999 bytes'], { maxUnzipped: 1_199_999 });
  });

  it('rejects a real 300 MB bomb against the production limit', async () => {
    const zip = zipBomb(300 * MB);
    assert.ok(zip.length < 400_000, `bomb is ${zip.length} bytes`);
    await rejects(zip, ['Unzipped size must be smaller than 262144000 bytes']);
  });

  it('rejects a package whose compression ratio marks it as a bomb', async () => {
    const zip = await zipOf({ 'index.js': 'x', 'zeros.bin': Buffer.alloc(2 * MB) });
    await rejects(zip, ['zip bomb', 'more than 100 times'], { maxRatio: 100 });
  });

  it('rejects one bomb entry even when incompressible padding keeps the overall ratio low', async () => {
    const zip = await zipOf({ 'padding.bin': randomBytes(MB), 'zeros.bin': Buffer.alloc(2 * MB) });
    await rejects(zip, ['zip bomb', '"zeros.bin"', 'more than 100 times its compressed size'], {
      maxRatio: 100,
    });
  });

  it('rejects overlapping entries that share one compressed kernel', async () => {
    const zip = overlappingBomb(300);
    assert.ok(zip.length < 30_000);
    await rejects(zip, ['zip bomb', 'together expand to more than 1100 times']);
  });

  it('rejects too many entries, counted up front', async () => {
    const files = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`f${i}.txt`, `${i}`]));
    const zip = await zipOf(files);
    assert.equal((await inspectZip(zip, { maxEntries: 5 })).entries, 5);
    await rejects(zip, ['more than 4 entries'], { maxEntries: 4 });
  });

  it('counts directory entries toward the entry cap', async () => {
    const zip = rawZip([{ name: 'a/' }, { name: 'b/' }, { name: 'c/' }]);
    await rejects(zip, ['more than 2 entries'], { maxEntries: 2 });
  });
});
