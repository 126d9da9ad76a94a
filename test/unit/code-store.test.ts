import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ApiError, limits } from '../../src/model/index.js';
import { FileCodeStore } from '../../src/store/files/index.js';
import { rawZip, zipOf } from '../support/zips.js';

const root = mkdtempSync(path.join(tmpdir(), 'kiln-code-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => path.join(root, `store-${++n}`, 'nested');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('FileCodeStore', () => {
  it('creates its directory and stores a package under its sha256', async () => {
    const dir = freshDir();
    const store = new FileCodeStore(dir);
    assert.ok(existsSync(dir));
    const zip = await zipOf({ 'index.js': 'exports.handler = async () => 42;\n' });
    const ref = await store.put(zip);
    assert.deepEqual(ref, { sha256Hex: sha256(zip), size: zip.length, unzippedSize: 34 });
    assert.equal(store.pathOf(ref.sha256Hex), path.join(dir, `${ref.sha256Hex}.zip`));
    assert.deepEqual(readFileSync(store.pathOf(ref.sha256Hex)), zip);
    assert.equal(store.has(ref.sha256Hex), true);
    assert.equal(store.has('0'.repeat(64)), false);
    assert.deepEqual(readdirSync(dir), [`${ref.sha256Hex}.zip`]);
  });

  it('inspects without storing (DryRun)', async () => {
    const dir = freshDir();
    const store = new FileCodeStore(dir);
    const zip = await zipOf({ 'index.js': 'dry run' });
    assert.deepEqual(await store.inspect(zip), { sha256Hex: sha256(zip), size: zip.length, unzippedSize: 7 });
    await assert.rejects(store.inspect(rawZip([{ name: '/abs', data: Buffer.from('x') }])), ApiError);
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(store.has(sha256(zip)), false);
  });

  it('stores identical packages once', async () => {
    const dir = freshDir();
    const store = new FileCodeStore(dir);
    const zip = await zipOf({ 'a.js': 'same' });
    const [a, b] = await Promise.all([store.put(zip), store.put(zip)]);
    assert.deepEqual(a, b);
    assert.deepEqual(await store.put(zip), a);
    assert.deepEqual(readdirSync(dir), [`${a.sha256Hex}.zip`]);
  });

  it('refuses shas that are not 64 lowercase hex digits', () => {
    const store = new FileCodeStore(freshDir());
    assert.throws(() => store.pathOf('../../etc/passwd'));
    assert.throws(() => store.pathOf('A'.repeat(64)));
    assert.equal(store.has('../x'), false);
  });

  it('leaves nothing behind for a rejected package', async () => {
    const dir = freshDir();
    const store = new FileCodeStore(dir);
    for (const bad of [
      Buffer.from('not a zip'),
      rawZip([{ name: '../evil', data: Buffer.from('x') }]),
      rawZip([{ name: 'a.txt', data: Buffer.from('x'), crc: 1 }]),
    ]) {
      await assert.rejects(
        store.put(bad),
        (e: unknown) => e instanceof ApiError && e.code === 'InvalidParameterValueException',
      );
    }
    assert.deepEqual(readdirSync(dir), []);
  });

  it('rejects a zip over the zipped-size limit before reading it', async () => {
    const dir = freshDir();
    const store = new FileCodeStore(dir);
    const big = Buffer.alloc(limits.zippedBytes + 1);
    await assert.rejects(store.put(big), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.code, 'RequestEntityTooLargeException');
      assert.match(e.message, /Zipped size must be smaller than 52428800 bytes/);
      return true;
    });
    assert.deepEqual(readdirSync(dir), []);
  });

  it('collects unreferenced packages and leftover temp files', async () => {
    const dir = freshDir();
    // Each put waits for its tree, so that both trees exist when the sweep counts what it removed.
    const store = new FileCodeStore(dir, { backgroundExtractions: 0 });
    const kept = await store.put(await zipOf({ 'a.js': 'keep me' }));
    const dropped = await store.put(await zipOf({ 'b.js': 'drop me' }));
    writeFileSync(path.join(dir, 'tmp-crashed-upload'), 'partial');
    writeFileSync(path.join(dir, 'notes.txt'), 'not ours to delete');
    // The temp file, and the dropped package's zip and tree (a put unpacks what it stores).
    assert.equal(await store.collectGarbage(new Set([kept.sha256Hex])), 3);
    assert.equal(store.has(kept.sha256Hex), true);
    assert.equal(store.has(dropped.sha256Hex), false);
    assert.deepEqual(readdirSync(dir).sort(), [`${kept.sha256Hex}.zip`, 'notes.txt']);
    assert.equal(await store.collectGarbage(new Set([kept.sha256Hex])), 0);
    assert.equal(await store.collectGarbage(new Set()), 2);
    assert.equal(store.has(kept.sha256Hex), false);
  });

  it('never sweeps a package that a concurrent put returned', async () => {
    const dir = freshDir();
    const store = new FileCodeStore(dir);
    const tree = (sha: string, file: string): string => path.join(path.dirname(dir), 'unpacked', sha, file);
    const zip = await zipOf({ 'racy.js': 'x' });
    // Start a sweep whose keep set predates the put at every point of the put's progress, one event-loop
    // turn later each time, until the put finishes before the sweep starts.
    for (let delay = 0; ; delay++) {
      let putDone = false;
      const put = store.put(zip).then((ref) => ((putDone = true), ref));
      for (let i = 0; i < delay && !putDone; i++) await new Promise((r) => setImmediate(r));
      if (putDone) break;
      const sweep = store.collectGarbage(new Set());
      const [ref] = await Promise.all([put, sweep]);
      assert.equal(store.has(ref.sha256Hex), true, `swept at delay ${delay}`);
      // Nor the tree the put unpacked alongside (in place, or still being extracted: then this joins it,
      // while without the zip it could not extract anew).
      rmSync(store.pathOf(ref.sha256Hex));
      const held = await store.unpacked(ref.sha256Hex);
      assert.equal(readFileSync(tree(ref.sha256Hex, 'racy.js'), 'utf8'), 'x', `tree swept at delay ${delay}`);
      held.release();
      await store.collectGarbage(new Set());
      assert.equal(store.has(ref.sha256Hex), false);
      assert.equal(existsSync(tree(ref.sha256Hex, '.')), false);
    }
    // The same again while the package is already stored, so the put only claims the existing file.
    await store.put(zip);
    for (let delay = 0; ; delay++) {
      let putDone = false;
      const put = store.put(zip).then((ref) => ((putDone = true), ref));
      for (let i = 0; i < delay && !putDone; i++) await new Promise((r) => setImmediate(r));
      if (putDone) break;
      const [ref] = await Promise.all([put, store.collectGarbage(new Set())]);
      assert.equal(store.has(ref.sha256Hex), true, `swept a stored package at delay ${delay}`);
      await store.put(zip);
    }
  });

  it('calls the failpoints once the package and its tree are durable and unpacked, then in place', async () => {
    const dir = freshDir();
    const unpackDir = path.join(path.dirname(dir), 'unpacked');
    const seen: string[] = [];
    const zip = await zipOf({ 'f.js': 'crash here' });
    const sha = sha256(zip);
    const temps = (d: string): string[] => readdirSync(d).filter((name) => name.startsWith('tmp-'));
    let sweep: Promise<number> | undefined;
    const store = new FileCodeStore(dir, {
      // The put waits for its extraction, so `code-extracted` is reached every time.
      backgroundExtractions: 0,
      failpoint: (name) => {
        seen.push(name);
        if (name === 'code-extracted') {
          assert.equal(temps(dir).length, 1);
          assert.deepEqual(readdirSync(dir), temps(dir), 'the zip is under its temp name only');
          assert.equal(temps(unpackDir).length, 1);
          assert.equal(existsSync(path.join(unpackDir, sha)), false, 'the tree is under its temp name only');
          // Runs before the put can move either into place, and must take neither.
          sweep = store.collectGarbage(new Set());
          return;
        }
        assert.deepEqual(readdirSync(dir), [`${sha}.zip`]);
        assert.equal(readFileSync(path.join(unpackDir, sha, 'f.js'), 'utf8'), 'crash here');
        throw new Error('simulated crash');
      },
    });
    await assert.rejects(store.put(zip), /simulated crash/);
    assert.deepEqual(seen, ['code-extracted', 'code-written']);
    assert.equal(await sweep, 0);
    assert.equal(readFileSync(path.join(unpackDir, sha, 'f.js'), 'utf8'), 'crash here');
    assert.equal(store.has(sha), true);
    // An already stored package is not written again, so the failpoints stay quiet.
    await store.put(zip);
    assert.deepEqual(seen, ['code-extracted', 'code-written']);
  });
});
