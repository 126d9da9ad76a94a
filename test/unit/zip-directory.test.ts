import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yauzl from 'yauzl';
import { zipDirectory } from '../../src/client/index.js';

interface ReadEntry {
  readonly mode: number;
  readonly content: string;
  readonly mtime: Date;
}

function unzip(zip: Buffer): Promise<Map<string, ReadEntry>> {
  return new Promise((res, rej) => {
    yauzl.fromBuffer(zip, { lazyEntries: true }, (err, file) => {
      if (err || !file) return rej(err ?? new Error('no zip'));
      const entries = new Map<string, ReadEntry>();
      file.on('error', rej);
      file.on('end', () => res(entries));
      file.on('entry', (entry: yauzl.Entry) => {
        const mode = entry.externalFileAttributes >>> 16;
        const mtime = entry.getLastModDate();
        if (entry.fileName.endsWith('/')) {
          entries.set(entry.fileName, { mode, content: '', mtime });
          return file.readEntry();
        }
        file.openReadStream(entry, (e, stream) => {
          if (e || !stream) return rej(e ?? new Error('no stream'));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            entries.set(entry.fileName, { mode, content: Buffer.concat(chunks).toString(), mtime });
            file.readEntry();
          });
        });
      });
      file.readEntry();
    });
  });
}

function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-zip-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A small package with a nested folder, an executable and a .git folder to be skipped. */
function makePackage(root: string, when: Date): void {
  mkdirSync(join(root, 'lib', 'deep'), { recursive: true });
  mkdirSync(join(root, '.git'));
  mkdirSync(join(root, 'cache'));
  writeFileSync(join(root, 'bootstrap'), '#!/bin/sh\necho hi\n');
  chmodSync(join(root, 'bootstrap'), 0o755);
  writeFileSync(join(root, 'index.js'), 'exports.handler = async () => 42;\n');
  chmodSync(join(root, 'index.js'), 0o644);
  writeFileSync(join(root, 'lib', 'deep', 'util.js'), 'module.exports = 1;\n');
  chmodSync(join(root, 'lib', 'deep', 'util.js'), 0o644);
  writeFileSync(join(root, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  for (const f of ['bootstrap', 'index.js', 'lib/deep/util.js']) utimesSync(join(root, f), when, when);
}

test('the same content zips to the same bytes, whatever the files’ mtimes', async (t) => {
  const a = join(scratch(t), 'pkg');
  const b = join(scratch(t), 'pkg');
  makePackage(a, new Date('2020-05-05T10:00:00Z'));
  makePackage(b, new Date('2024-12-31T23:59:59Z'));
  const first = await zipDirectory(a);
  assert.deepEqual(await zipDirectory(a), first);
  assert.deepEqual(await zipDirectory(b), first);

  writeFileSync(join(a, 'index.js'), 'exports.handler = async () => 43;\n');
  assert.notDeepEqual(await zipDirectory(a), first);
});

test('entries are sorted, .git is left out, empty folders kept, mtime fixed', async (t) => {
  const root = scratch(t);
  makePackage(root, new Date());
  const entries = await unzip(await zipDirectory(root));
  assert.deepEqual([...entries.keys()], ['bootstrap', 'cache/', 'index.js', 'lib/deep/util.js']);
  assert.equal(entries.get('lib/deep/util.js')?.content, 'module.exports = 1;\n');
  for (const e of entries.values()) assert.equal(e.mtime.getFullYear(), 1980);
});

test('unix modes survive: the executable bit of bootstrap is kept', async (t) => {
  const root = scratch(t);
  makePackage(root, new Date());
  const entries = await unzip(await zipDirectory(root));
  assert.equal((entries.get('bootstrap')?.mode ?? 0) & 0o777, 0o755);
  assert.equal((entries.get('bootstrap')?.mode ?? 0) & 0o170000, 0o100000);
  assert.equal((entries.get('index.js')?.mode ?? 0) & 0o777, 0o644);
});

test('a symlink inside the folder is stored as a symlink', async (t) => {
  const root = scratch(t);
  makePackage(root, new Date());
  symlinkSync('lib/deep/util.js', join(root, 'util.js'));
  symlinkSync(join(root, 'index.js'), join(root, 'lib', 'main.js'));
  const entries = await unzip(await zipDirectory(root));
  const rel = entries.get('util.js');
  assert.equal((rel?.mode ?? 0) & 0o170000, 0o120000);
  assert.equal(rel?.content, 'lib/deep/util.js');
  // An absolute target would dangle after unzipping elsewhere, so it is stored relative.
  assert.equal(entries.get('lib/main.js')?.content, '../index.js');
});

test('a symlink pointing outside the folder is refused, naming the link', async (t) => {
  const outside = scratch(t);
  const root = join(outside, 'pkg');
  mkdirSync(root);
  makePackage(root, new Date());
  writeFileSync(join(outside, 'secret.txt'), 'nope');
  symlinkSync('../../secret.txt', join(root, 'lib', 'leak.txt'));
  await assert.rejects(zipDirectory(root), /lib\/leak\.txt: symlink points outside the directory/);
});

test('a missing, non-directory or empty folder is an error', async (t) => {
  const root = scratch(t);
  await assert.rejects(zipDirectory(join(root, 'absent')), /absent: no such directory/);
  writeFileSync(join(root, 'file'), 'x');
  await assert.rejects(zipDirectory(join(root, 'file')), /file: not a directory/);
  mkdirSync(join(root, 'empty', 'sub'), { recursive: true });
  mkdirSync(join(root, 'empty', '.git'));
  writeFileSync(join(root, 'empty', '.git', 'HEAD'), 'x');
  await assert.rejects(zipDirectory(join(root, 'empty')), /empty: the directory is empty/);
});
