import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { UnpackOnPut } from '../../src/app/unpack-on-put.js';
import { silentLogger } from '../../src/shared/index.js';
import { FileCodeStore } from '../../src/store/files/index.js';
import { zipOf } from '../support/zips.js';

const root = mkdtempSync(path.join(tmpdir(), 'kiln-unpack-on-put-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('UnpackOnPut', () => {
  it('unpacks a package once it is stored, before any invocation asks for it', async () => {
    const code = new UnpackOnPut(new FileCodeStore(path.join(root, 'a', 'code')), silentLogger());
    const ref = await code.put(await zipOf({ 'index.js': 'exports.handler = async () => 1;\n' }));
    await code.idle();
    const tree = path.join(root, 'a', 'unpacked', ref.sha256Hex);
    assert.equal(readFileSync(path.join(tree, 'index.js'), 'utf8'), 'exports.handler = async () => 1;\n');
    // Holding nothing, the tree goes with the package once no record references it.
    await code.collectGarbage(new Set());
    assert.equal(existsSync(tree), false);
  });

  it('goes on with later packages after one fails to unpack', async () => {
    const store = new FileCodeStore(path.join(root, 'b', 'code'));
    const code = new UnpackOnPut(store, silentLogger());
    const broken = await code.put(await zipOf({ 'index.js': 'broken' }));
    // Gone before its turn: its extraction fails (and an Invoke would report that itself).
    rmSync(store.pathOf(broken.sha256Hex));
    const ref = await code.put(await zipOf({ 'index.js': 'fine' }));
    await code.idle();
    assert.equal(existsSync(path.join(root, 'b', 'unpacked', broken.sha256Hex)), false);
    assert.equal(readFileSync(path.join(root, 'b', 'unpacked', ref.sha256Hex, 'index.js'), 'utf8'), 'fine');
  });
});
