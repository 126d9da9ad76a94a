import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { ApiError } from '../../src/model/index.js';
import { FileCodeStore, type FileCodeStoreOptions } from '../../src/store/files/index.js';
import { extractZip } from '../../src/store/files/zip-extract.js';
import type { RawEntry } from '../support/zips.js';
import { overlappingBomb, rawZip, zipOf } from '../support/zips.js';

const root = mkdtempSync(path.join(tmpdir(), 'kiln-code-unpack-'));
after(async () => {
  // The trees are read-only; open them up so a non-root run can delete them too.
  execFileSync('chmod', ['-R', 'u+w', root]);
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
function freshStore(options: FileCodeStoreOptions = {}): {
  store: FileCodeStore;
  codeDir: string;
  unpackDir: string;
} {
  const base = path.join(root, `store-${++n}`);
  const codeDir = path.join(base, 'code');
  return { store: new FileCodeStore(codeDir, options), codeDir, unpackDir: path.join(base, 'unpacked') };
}
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** Stores a zip the way a put from an earlier run left it once its tree was gone (e.g. after a reboot). */
function storedOnly(codeDir: string, zip: Buffer): string {
  const sha = sha256(zip);
  writeFileSync(path.join(codeDir, `${sha}.zip`), zip);
  return sha;
}
/** The unpack directory's entries but its boot marker. */
const trees = (dir: string): string[] => readdirSync(dir).filter((name) => name !== '.boot-id');
const mode = (p: string): number => lstatSync(p).mode & 0o7777;
const link = (name: string, target: string): RawEntry => ({
  name,
  data: Buffer.from(target),
  mode: 0o120777,
});
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
/** What a promise rejects with, or undefined when it fulfils; settled at once, so no rejection goes unhandled. */
const failure = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (err: unknown) => err,
  );
/** Every event-loop turn at first, while a put is still inspecting, then sparser: a put takes hundreds. */
const later = (delay: number): number => (delay < 16 ? delay + 1 : Math.ceil(delay * 1.2));

/** Every path under `dir`, relative, sorted. */
function listTree(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(dir, rel)).sort()) {
    const child = rel ? `${rel}/${name}` : name;
    out.push(child);
    if (lstatSync(path.join(dir, child)).isDirectory()) out.push(...listTree(dir, child));
  }
  return out;
}

const layout = rawZip([
  { name: 'bootstrap', data: Buffer.from('#!/bin/sh\necho "from bootstrap $1"\n'), mode: 0o100755 },
  { name: 'index.js', data: Buffer.from('exports.handler = 1;\n'), mode: 0o100600 },
  { name: 'lib/deep/nested/mod.js', data: Buffer.from('module.exports = 2;\n'), mode: 0o100640 },
  { name: 'empty/', mode: 0o40700 },
  { name: 'windows.txt', data: Buffer.from('no unix mode'), mode: 0 },
  { name: 'setuid', data: Buffer.from('#!/bin/sh\n'), mode: 0o104775 },
  link('lib/current', 'deep/nested'),
  link('run', 'bootstrap'),
]);

describe('FileCodeStore.unpacked', () => {
  // A put unpacks the upload's bytes; unpacked() a stored zip it finds without a tree.
  for (const from of ['the upload, by put', 'the stored zip, by unpacked()'] as const) {
    it(`writes the tree from ${from} world-readable and read-only, keeping exec bits and symlinks`, async () => {
      const { store, codeDir, unpackDir } = freshStore();
      const sha =
        from === 'the upload, by put' ? (await store.put(layout)).sha256Hex : storedOnly(codeDir, layout);
      const { dir, release } = await store.unpacked(sha);
      assert.equal(dir, path.join(unpackDir, sha));
      assert.deepEqual(listTree(dir), [
        'bootstrap',
        'empty',
        'index.js',
        'lib',
        'lib/current',
        'lib/deep',
        'lib/deep/nested',
        'lib/deep/nested/mod.js',
        'run',
        'setuid',
        'windows.txt',
      ]);
      assert.equal(mode(path.join(dir, 'bootstrap')), 0o555);
      assert.equal(mode(path.join(dir, 'setuid')), 0o555, 'setuid and group-write bits are dropped');
      assert.equal(mode(path.join(dir, 'index.js')), 0o444, 'a 0600 file is made world-readable');
      assert.equal(mode(path.join(dir, 'windows.txt')), 0o444, 'no unix mode means not executable');
      for (const d of ['', 'empty', 'lib', 'lib/deep', 'lib/deep/nested']) {
        assert.equal(mode(path.join(dir, d)), 0o555, `directory "${d}"`);
      }
      assert.equal(readlinkSync(path.join(dir, 'lib/current')), 'deep/nested');
      assert.equal(readFileSync(path.join(dir, 'lib/current/mod.js'), 'utf8'), 'module.exports = 2;\n');
      assert.equal(readlinkSync(path.join(dir, 'run')), 'bootstrap');
      assert.equal(execFileSync(path.join(dir, 'run'), ['ok'], { encoding: 'utf8' }), 'from bootstrap ok\n');
      assert.equal(mode(unpackDir), 0o755);
      release();
      release();
    });
  }

  it('unpacks a zip made by zipDirectory-style tools with implicit parent directories', async () => {
    const { store } = freshStore();
    const ref = await store.put(await zipOf({ 'a/b/c.txt': 'c', 'a/d.txt': 'd' }));
    const { dir } = await store.unpacked(ref.sha256Hex);
    assert.deepEqual(listTree(dir), ['a', 'a/b', 'a/b/c.txt', 'a/d.txt']);
    assert.equal(readFileSync(path.join(dir, 'a/b/c.txt'), 'utf8'), 'c');
    assert.ok(statSync(path.join(dir, 'a/b')).mode & 0o005, 'directories are world-searchable');
  });

  it('lets a later entry of the same name replace an earlier one, as unzip does', async () => {
    const { store } = freshStore();
    const zip = rawZip([
      { name: 'dup.js', data: Buffer.from('first'), mode: 0o100755 },
      { name: 'dup.js', data: Buffer.from('second') },
    ]);
    const { dir } = await store.unpacked((await store.put(zip)).sha256Hex);
    assert.equal(readFileSync(path.join(dir, 'dup.js'), 'utf8'), 'second');
    assert.equal(mode(path.join(dir, 'dup.js')), 0o444);
  });

  it('extracts once, sharing one extraction between concurrent callers', async () => {
    const { store, codeDir, unpackDir } = freshStore();
    const sha = storedOnly(codeDir, layout);
    const held = await Promise.all(Array.from({ length: 8 }, () => store.unpacked(sha)));
    assert.equal(new Set(held.map((h) => h.dir)).size, 1);
    assert.deepEqual(trees(unpackDir), [sha], 'no temp trees left');
    const inode = statSync(path.join(held[0]?.dir ?? '', 'index.js')).ino;
    const again = await store.unpacked(sha);
    assert.equal(statSync(path.join(again.dir, 'index.js')).ino, inode, 'not extracted a second time');
    // A second store over the same directories (a restart) reuses the tree as well.
    const restarted = new FileCodeStore(codeDir);
    const after = await restarted.unpacked(sha);
    assert.equal(statSync(path.join(after.dir, 'index.js')).ino, inode);
  });

  it('moves trees written in an earlier boot aside and unpacks them anew', async () => {
    const base = path.join(root, `store-${++n}`);
    const codeDir = path.join(base, 'code');
    const unpackDir = path.join(base, 'unpacked');
    const first = new FileCodeStore(codeDir, { bootId: 'boot-1' });
    const ref = await first.put(await zipOf({ 'f.js': 'whole', 'lib/g.js': 'g' }));
    const { dir } = await first.unpacked(ref.sha256Hex);
    // What a crash of the machine can do to data that was never fsynced.
    chmodSync(path.join(dir, 'lib'), 0o755);
    rmSync(path.join(dir, 'lib', 'g.js'));
    assert.equal(readFileSync(path.join(unpackDir, '.boot-id'), 'utf8'), 'boot-1');
    // Checked once per store, not on every cold start.
    writeFileSync(path.join(unpackDir, '.boot-id'), 'not read again');
    assert.equal((await first.unpacked(ref.sha256Hex)).dir, dir);
    assert.equal(existsSync(path.join(dir, 'lib', 'g.js')), false, 'not moved aside and extracted again');
    writeFileSync(path.join(unpackDir, '.boot-id'), 'boot-1');

    const sameBoot = new FileCodeStore(codeDir, { bootId: 'boot-1' });
    assert.equal(existsSync(path.join((await sameBoot.unpacked(ref.sha256Hex)).dir, 'lib', 'g.js')), false);

    const rebooted = new FileCodeStore(codeDir, { bootId: 'boot-2' });
    const again = await rebooted.unpacked(ref.sha256Hex);
    assert.equal(again.dir, dir);
    assert.equal(readFileSync(path.join(again.dir, 'lib', 'g.js'), 'utf8'), 'g');
    assert.equal(readFileSync(path.join(unpackDir, '.boot-id'), 'utf8'), 'boot-2');
    const aside = trees(unpackDir).filter((name) => name.startsWith('trash-'));
    assert.equal(aside.length, 1, 'the old tree waits for the sweep');
    assert.equal(await rebooted.collectGarbage(new Set([ref.sha256Hex])), 1);
    assert.deepEqual(trees(unpackDir), [ref.sha256Hex]);
  });

  it('refuses a sha that is not stored, leaving nothing', async () => {
    const { store, unpackDir } = freshStore();
    await assert.rejects(store.unpacked('0'.repeat(64)), /0{64} is not stored/);
    await assert.rejects(store.unpacked('../../etc'), /not a lowercase hex sha256/);
    assert.equal(existsSync(unpackDir), false);
  });
});

describe('FileCodeStore.put unpacks what it stores', () => {
  // Every put answers with its tree in place, so a test can look at the unpack directory right after one.
  const waits: FileCodeStoreOptions = { backgroundExtractions: 0 };

  it('has the tree in place when it returns, so unpacked() does not extract again', async () => {
    const { store, codeDir, unpackDir } = freshStore(waits);
    const ref = await store.put(layout);
    assert.deepEqual(trees(unpackDir), [ref.sha256Hex], 'no temp tree left');
    const inode = statSync(path.join(unpackDir, ref.sha256Hex, 'index.js')).ino;
    const held = await store.unpacked(ref.sha256Hex);
    assert.equal(statSync(path.join(held.dir, 'index.js')).ino, inode);
    held.release();
    // A package stored without its tree (an earlier run, a reboot) gets it when it is put again.
    const sha = storedOnly(codeDir, await zipOf({ 'again.js': 'again' }));
    await store.put(readFileSync(store.pathOf(sha)));
    assert.equal(readFileSync(path.join(unpackDir, sha, 'again.js'), 'utf8'), 'again');
  });

  it('lets an unpacked() call made while it runs wait for its extraction', async () => {
    // Asked at a known point: the zip is durable under a temp name and the tree extracted, neither in place.
    const zip = await zipOf({ 'j.js': 'joined mid-put' });
    const sha = sha256(zip);
    let joining: ReturnType<FileCodeStore['unpacked']> | undefined;
    const { store } = freshStore({
      ...waits,
      failpoint: (name) => {
        if (name === 'code-extracted') joining = store.unpacked(sha);
      },
    });
    await store.put(zip);
    assert.ok(joining !== undefined, 'the failpoint ran');
    const held = await joining;
    assert.equal(readFileSync(path.join(held.dir, 'j.js'), 'utf8'), 'joined mid-put');
    held.release();
  });

  it('gives unpacked() calls made at any point of a put the tree it stores, leaving no temp tree', async () => {
    const { store, unpackDir } = freshStore(waits);
    // Ask later each time, until the put is over before the call.
    for (let delay = 0; ; delay = later(delay)) {
      const zip = await zipOf({ 'j.js': `joined at ${delay}` });
      const sha = sha256(zip);
      let putDone = false;
      const put = store.put(zip).then(() => void (putDone = true));
      for (let i = 0; i < delay && !putDone; i++) await tick();
      if (putDone) break;
      // Before the put has inspected the package, it is neither stored nor being extracted.
      const held = await store.unpacked(sha).catch((err: unknown) => {
        assert.match(String(err), /is not stored/);
        return undefined;
      });
      await put;
      if (held) {
        assert.equal(readFileSync(path.join(held.dir, 'j.js'), 'utf8'), `joined at ${delay}`);
        held.release();
      }
      assert.deepEqual(
        trees(unpackDir).filter((name) => name.startsWith('tmp-')),
        [],
      );
      await store.collectGarbage(new Set());
    }
  });

  it('leaves no tree when its write fails, whenever unpacked() asks', async () => {
    const { store, codeDir, unpackDir } = freshStore(waits);
    const zip = await zipOf({ 'w.js': 'never stored', 'lib/l.js': 'l' });
    const sha = sha256(zip);
    // The temp file cannot be created, while the extraction beside it goes ahead.
    rmSync(codeDir, { recursive: true });
    for (let delay = 0; ; delay = later(delay)) {
      let putDone = false;
      const put = failure(store.put(zip)).finally(() => (putDone = true));
      for (let i = 0; i < delay && !putDone; i++) await tick();
      const asked = putDone ? undefined : failure(store.unpacked(sha));
      assert.equal(((await put) as NodeJS.ErrnoException).code, 'ENOENT');
      if (asked) assert.match(String(await asked), /is not stored|could not be stored/);
      assert.deepEqual(trees(unpackDir), [], `left over at delay ${delay}`);
      await assert.rejects(store.unpacked(sha), /is not stored/);
      if (!asked) break;
    }
    mkdirSync(codeDir);
    await store.put(zip);
    assert.equal(readFileSync(path.join(unpackDir, sha, 'w.js'), 'utf8'), 'never stored');
  });

  it('leaves no tree when it fails after unpacking', async () => {
    const base = path.join(root, `store-${++n}`);
    const codeDir = path.join(base, 'code');
    const unpackDir = path.join(base, 'unpacked');
    const zip = await zipOf({ 'late.js': 'late' });
    const sha = sha256(zip);
    let asked: Promise<unknown> | undefined;
    const store = new FileCodeStore(codeDir, {
      ...waits,
      failpoint: (name) => {
        if (name !== 'code-extracted') return;
        asked = failure(store.unpacked(sha));
        // As a failed rename or directory fsync would.
        throw new Error('cannot place the zip');
      },
    });
    await assert.rejects(store.put(zip), /cannot place the zip/);
    assert.match(String(await asked), /could not be stored/);
    assert.deepEqual(readdirSync(codeDir), []);
    assert.deepEqual(trees(unpackDir), []);
    await assert.rejects(store.unpacked(sha), /is not stored/);
  });

  it('stores a package all the same when unpacking it fails, and says so', async () => {
    const { store, unpackDir } = freshStore(waits);
    const warnings: string[] = [];
    const logged = new FileCodeStore(path.dirname(store.pathOf('0'.repeat(64))), {
      ...waits,
      log: pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) }),
    });
    writeFileSync(unpackDir, 'in the way of the unpack directory');
    const ref = await logged.put(await zipOf({ 'u.js': 'unpack me later' }));
    assert.equal(logged.has(ref.sha256Hex), true);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /unpacking a new code package ahead of its first invocation failed/);
    assert.match(warnings[0] ?? '', new RegExp(ref.sha256Hex));
    await assert.rejects(logged.unpacked(ref.sha256Hex), { code: 'EEXIST' });
    rmSync(unpackDir);
    const { dir } = await logged.unpacked(ref.sha256Hex);
    assert.equal(readFileSync(path.join(dir, 'u.js'), 'utf8'), 'unpack me later');
    const next = await logged.put(await zipOf({ 'v.js': 'next' }));
    assert.equal(readFileSync(path.join(unpackDir, next.sha256Hex, 'v.js'), 'utf8'), 'next');
    assert.equal(warnings.length, 1);
  });

  it('keeps the zip and the tree of a put that a sweep raced, when the zip was stored already', async () => {
    const { store, codeDir, unpackDir } = freshStore(waits);
    const zip = await zipOf({ 'p.js': 'raced', 'lib/x.js': 'x' });
    const sha = sha256(zip);
    // The sweep starts one event-loop turn later each time, until the put is over before it starts. (A new
    // package: code-store.test.ts.)
    for (let delay = 0; ; delay++) {
      storedOnly(codeDir, zip);
      let putDone = false;
      const put = store.put(zip).then(() => void (putDone = true));
      for (let i = 0; i < delay && !putDone; i++) await tick();
      if (putDone) break;
      await Promise.all([put, store.collectGarbage(new Set())]);
      assert.equal(store.has(sha), true, `zip swept at delay ${delay}`);
      assert.equal(
        readFileSync(path.join(unpackDir, sha, 'lib/x.js'), 'utf8'),
        'x',
        `tree swept at ${delay}`,
      );
      await store.collectGarbage(new Set());
      assert.deepEqual(trees(unpackDir), [], `left over at delay ${delay}`);
      assert.deepEqual(readdirSync(codeDir), [], `left over at delay ${delay}`);
    }
  });

  it('may answer before a long extraction is over, which unpacked() then joins', async () => {
    const { store } = freshStore();
    const files: Record<string, string> = {};
    for (let i = 0; i < 200; i++) files[`lib/d${i % 10}/f${i}.js`] = `module.exports = ${i};\n`;
    const ref = await store.put(await zipOf(files));
    // Whether the tree is in place or still on its way, it no longer needs the zip.
    rmSync(store.pathOf(ref.sha256Hex));
    const { dir } = await store.unpacked(ref.sha256Hex);
    assert.equal(readFileSync(path.join(dir, 'lib/d9/f199.js'), 'utf8'), 'module.exports = 199;\n');
  });

  it('lets only so many extractions go on after their puts have answered', async () => {
    for (const backgroundExtractions of [0, 1, 2]) {
      const { store, unpackDir } = freshStore({ backgroundExtractions });
      const zips = await Promise.all(
        Array.from({ length: 4 }, (_, z) => {
          const files: Record<string, string> = {};
          for (let i = 0; i < 100; i++) files[`f${i}.js`] = `// ${z}.${i}\n`;
          return zipOf(files);
        }),
      );
      const refs = await Promise.all(zips.map((zip) => store.put(zip)));
      const unplaced = refs.filter((ref) => !existsSync(path.join(unpackDir, ref.sha256Hex)));
      assert.ok(unplaced.length <= backgroundExtractions, `${unplaced.length} > ${backgroundExtractions}`);
      for (const ref of refs) {
        const held = await store.unpacked(ref.sha256Hex);
        assert.equal(readdirSync(held.dir).length, 100);
        held.release();
      }
      assert.deepEqual(
        trees(unpackDir).filter((name) => name.startsWith('tmp-')),
        [],
      );
    }
  });
});

describe('FileCodeStore.collectGarbage and unpacked trees', () => {
  it('removes unreferenced unpacked trees, but not held or kept ones', async () => {
    const { store, unpackDir } = freshStore();
    const a = await store.put(await zipOf({ 'a.js': 'a' }));
    const b = await store.put(await zipOf({ 'b.js': 'b' }));
    const c = await store.put(await zipOf({ 'c.js': 'c' }));
    const heldA = await store.unpacked(a.sha256Hex);
    const heldA2 = await store.unpacked(a.sha256Hex);
    (await store.unpacked(b.sha256Hex)).release();
    (await store.unpacked(c.sha256Hex)).release();

    // a: held, not kept; b: neither; c: kept.
    assert.equal(await store.collectGarbage(new Set([c.sha256Hex])), 3, 'zips a and b, tree b');
    assert.deepEqual(trees(unpackDir).sort(), [a.sha256Hex, c.sha256Hex].sort());
    assert.equal(readFileSync(path.join(heldA.dir, 'a.js'), 'utf8'), 'a');

    heldA.release();
    await store.collectGarbage(new Set([c.sha256Hex]));
    assert.ok(existsSync(heldA.dir), 'one hold is left');
    heldA2.release();
    assert.equal(await store.collectGarbage(new Set([c.sha256Hex])), 1);
    assert.deepEqual(trees(unpackDir), [c.sha256Hex]);
    assert.equal(await store.collectGarbage(new Set()), 2, 'zip c and tree c');
    assert.deepEqual(trees(unpackDir), []);
  });

  it('removes temp and trash trees a crash left behind, read-only ones included', async () => {
    const { store, unpackDir } = freshStore();
    const kept = await store.put(await zipOf({ 'k.js': 'k' }));
    await store.unpacked(kept.sha256Hex);
    for (const leftover of ['tmp-crashed', 'trash-crashed']) {
      mkdirSync(path.join(unpackDir, leftover, 'sub'), { recursive: true });
      writeFileSync(path.join(unpackDir, leftover, 'sub', 'half.js'), 'partial');
      chmodSync(path.join(unpackDir, leftover, 'sub'), 0o555);
      chmodSync(path.join(unpackDir, leftover), 0o555);
    }
    writeFileSync(path.join(unpackDir, 'notes.txt'), 'not ours to delete');
    assert.equal(await store.collectGarbage(new Set([kept.sha256Hex])), 2);
    assert.deepEqual(trees(unpackDir).sort(), [kept.sha256Hex, 'notes.txt']);
  });

  it('never removes a tree whose unpacked() call raced a sweep', async () => {
    const { store, codeDir, unpackDir } = freshStore();
    const zip = await zipOf({ 'r.js': 'racy', 'lib/x.js': 'x' });
    // Start the sweep one event-loop turn later each time, until unpacking finishes before it starts.
    for (let delay = 0; ; delay++) {
      const sha = storedOnly(codeDir, zip);
      let done = false;
      const unpacking = store.unpacked(sha).then((h) => ((done = true), h));
      for (let i = 0; i < delay && !done; i++) await tick();
      const finished = done;
      const [held] = await Promise.all([unpacking, store.collectGarbage(new Set())]);
      assert.equal(readFileSync(path.join(held.dir, 'lib/x.js'), 'utf8'), 'x', `lost at delay ${delay}`);
      held.release();
      await store.collectGarbage(new Set());
      assert.deepEqual(trees(unpackDir), [], `left over at delay ${delay}`);
      if (finished) break;
    }
  });
});

describe('FileCodeStore.unpacked refuses hostile packages that got stored', () => {
  const hostile: Record<string, { zip: Buffer; reason: RegExp }> = {
    'a path escape': { zip: rawZip([{ name: '../evil', data: Buffer.from('x') }]), reason: /"\.\.\/evil"/ },
    'an absolute symlink': { zip: rawZip([link('passwd', '/etc/passwd')]), reason: /"passwd".*absolute/ },
    'a symlink chain out of the root': {
      zip: rawZip([link('a', '.'), link('x', 'a/..')]),
      reason: /"x".*through another symlink/,
    },
    'a write through a symlink': {
      zip: rawZip([
        link('up', 'sub'),
        { name: 'sub/', mode: 0o40755 },
        { name: 'up/f', data: Buffer.from('x') },
      ]),
      reason: /"up"/,
    },
    'a file where a directory must go': {
      zip: rawZip([
        { name: 'a', data: Buffer.from('file') },
        { name: 'a/b', data: Buffer.from('under a file') },
      ]),
      reason: /"a\/b".*needs a directory/,
    },
    'a directory replaced by a file': {
      zip: rawZip([
        { name: 'd/', mode: 0o40755 },
        { name: 'd', data: Buffer.from('file over a directory') },
      ]),
      reason: /"d".*cannot be written as a file/,
    },
    'a CRC mismatch': { zip: rawZip([{ name: 'c.txt', data: Buffer.from('x'), crc: 1 }]), reason: /CRC-32/ },
    'overlapping entries (a bomb)': { zip: overlappingBomb(200), reason: /zip bomb/ },
  };
  for (const [what, { zip, reason }] of Object.entries(hostile)) {
    it(`refuses ${what} in an upload's bytes as in a stored zip`, async () => {
      await assert.rejects(extractZip(zip, mkdtempSync(path.join(root, 'bytes-'))), reason);
    });

    it(`refuses to put ${what}, storing nothing`, async () => {
      const { store, codeDir, unpackDir } = freshStore();
      await assert.rejects(store.inspect(zip), reason);
      await assert.rejects(store.put(zip), (err: unknown) => {
        assert.ok(err instanceof ApiError);
        assert.equal(err.code, 'InvalidParameterValueException');
        assert.match(err.message, reason);
        return true;
      });
      assert.deepEqual(readdirSync(codeDir), []);
      assert.deepEqual(existsSync(unpackDir) ? trees(unpackDir) : [], []);
    });

    it(`refuses ${what} and leaves nothing`, async () => {
      const { store, codeDir, unpackDir } = freshStore();
      const sha = sha256(zip);
      writeFileSync(path.join(codeDir, `${sha}.zip`), zip);
      await assert.rejects(store.unpacked(sha), (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.match(err.message, new RegExp(`^Code package ${sha} could not be unpacked: `));
        assert.match(err.message, reason);
        return true;
      });
      assert.deepEqual(trees(unpackDir), []);
      // Nothing is cached either: a second attempt fails the same way.
      await assert.rejects(store.unpacked(sha), reason);
    });
  }
});

describe('extractZip', () => {
  it("applies the caps to an upload's bytes as to a stored zip", async () => {
    const zip = await zipOf({ 'a.txt': '0123456789', 'b.txt': '0123456789', 'c.txt': '0123456789' });
    const file = path.join(mkdtempSync(path.join(root, 'caps-')), 'caps.zip');
    writeFileSync(file, zip);
    for (const source of [zip, file]) {
      const into = (): string => mkdtempSync(path.join(root, 'caps-'));
      await assert.rejects(extractZip(source, into(), { maxEntries: 2 }), /more than 2 entries/);
      await assert.rejects(extractZip(source, into(), { maxUnzipped: 25 }), /smaller than 25 bytes/);
      assert.deepEqual(await extractZip(source, into()), { entries: 3, unzippedSize: 30 });
    }
  });
});
