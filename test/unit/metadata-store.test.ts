// The SQLite metadata store: migrations from schemas 1 and 3, versions, aliases, reserved and provisioned
// concurrency, event invoke configs.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { FunctionRecord, VersionRecord } from '../../src/model/index.js';
import { SqliteMetadataStore } from '../../src/store/sqlite/index.js';

const root = mkdtempSync(path.join(tmpdir(), 'kiln-metadata-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshFile = (): string => path.join(root, `m-${++n}.db`);
const arnOf = (name: string, q?: string): string => `arn:test:${name}${q ? `:${q}` : ''}`;

const record = (name: string, sha: string, revisionId = `rev-${name}`): FunctionRecord => ({
  config: {
    name,
    runtime: 'nodejs20.x',
    role: 'arn:aws:iam::000000000000:role/r',
    handler: 'index.handler',
    description: '',
    timeout: 3,
    memorySize: 128,
    ephemeralStorage: 512,
    environment: {},
    architecture: 'x86_64',
  },
  code: { sha256Hex: sha, size: 10, unzippedSize: 20 },
  revisionId,
  tags: {},
  lastModified: 1,
});
const snapshot = (r: FunctionRecord, version: string): VersionRecord => ({
  ...r,
  version,
  revisionId: `v${version}`,
});

describe('SqliteMetadataStore', () => {
  it('migrates a schema 1 database to the current schema, keeping its functions', () => {
    const file = freshFile();
    const old = new Database(file);
    old.exec(`
      CREATE TABLE functions (name TEXT PRIMARY KEY, record TEXT NOT NULL, code_sha256 TEXT NOT NULL,
        code_size INTEGER NOT NULL, revision_id TEXT NOT NULL) STRICT;
      PRAGMA user_version = 1;`);
    const kept = record('old', 'a'.repeat(64));
    old
      .prepare('INSERT INTO functions VALUES (?, ?, ?, ?, ?)')
      .run('old', JSON.stringify(kept), kept.code.sha256Hex, 10, kept.revisionId);
    old.close();

    const store = new SqliteMetadataStore(file, arnOf);
    assert.deepEqual(store.get('old'), kept);
    assert.deepEqual(store.usage(), { functionCount: 1, totalCodeSize: 10 });
    const v1 = store.publishVersion('old', kept.revisionId, snapshot);
    assert.equal(v1?.version, '1');
    store.close();

    const check = new Database(file, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), 4);
    const tables = check
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((t) => t.name);
    assert.deepEqual(tables, [
      'aliases',
      'event_invoke_config',
      'function_concurrency',
      'functions',
      'provisioned_concurrency',
      'versions',
    ]);
    check.close();
    // Reopening an up-to-date database migrates nothing and keeps everything.
    const again = new SqliteMetadataStore(file, arnOf);
    assert.equal(again.getVersion('old', '1')?.revisionId, 'v1');
    again.close();
  });

  it('refuses a database newer than it knows', () => {
    const file = freshFile();
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    assert.throws(() => new SqliteMetadataStore(file, arnOf), /schema 99 is newer/);
  });

  it('numbers versions without reuse, keeps their code referenced and deletes them with the function', () => {
    const store = new SqliteMetadataStore(freshFile(), arnOf);
    const shaA = 'a'.repeat(64);
    const shaB = 'b'.repeat(64);
    store.create(record('f', shaA, 'r1'));
    assert.equal(store.publishVersion('f', 'stale', snapshot), undefined, 'RevisionId precondition');
    assert.equal(store.publishVersion('f', 'r1', snapshot)?.version, '1');
    assert.equal(store.publishVersion('f', 'r1', snapshot)?.version, '2');
    assert.ok(store.replace(record('f', shaB, 'r2'), 'r1'));
    assert.deepEqual(store.referencedCode(), new Set([shaA, shaB]), 'published code is never garbage');
    assert.deepEqual(store.deleteVersion('f', '2').deleted?.version, '2');
    assert.equal(store.publishVersion('f', 'r2', snapshot)?.version, '3');
    assert.deepEqual(
      store.listVersions('f', 0, 10).map((v) => v.version),
      ['1', '3'],
    );
    assert.equal(store.newestVersion('f')?.version, '3');

    store.createAlias({
      functionName: 'f',
      name: 'live',
      functionVersion: '3',
      description: '',
      weights: { '1': 0.5 },
      revisionId: 'a1',
    });
    assert.deepEqual(store.deleteVersion('f', '1'), { referencedBy: ['live'] });
    const live = store.getAlias('f', 'live');
    assert.ok(live);
    assert.deepEqual(
      store.listAliases('f', '', 10, '1').map((a) => a.name),
      ['live'],
    );
    assert.equal(store.replaceAlias({ ...live, weights: {}, revisionId: 'a2' }, 'wrong'), false);
    assert.equal(store.replaceAlias({ ...live, weights: {}, revisionId: 'a2' }, 'a1'), true);
    assert.deepEqual(store.listAliases('f', '', 10, '1'), []);

    store.setReservedConcurrency('f', 5);
    assert.ok(store.delete('f'));
    assert.equal(store.getVersion('f', '1'), undefined);
    assert.equal(store.getAlias('f', 'live'), undefined);
    assert.equal(store.getReservedConcurrency('f'), undefined);
    assert.deepEqual(store.referencedCode(), new Set());
    store.create(record('f', shaA, 'r9'));
    assert.equal(store.publishVersion('f', 'r9', snapshot)?.version, '1', 'a new function starts at 1');
    store.close();
  });

  it('stores reserved concurrency per function and sums it', () => {
    const store = new SqliteMetadataStore(freshFile(), arnOf);
    store.create(record('a', 'a'.repeat(64)));
    store.create(record('b', 'b'.repeat(64)));
    assert.equal(store.getReservedConcurrency('a'), undefined);
    assert.equal(store.reservedConcurrencyTotal(), 0);
    store.setReservedConcurrency('a', 10);
    store.setReservedConcurrency('b', 0);
    assert.equal(store.getReservedConcurrency('a'), 10);
    assert.equal(store.getReservedConcurrency('b'), 0, 'zero is a reservation, not its absence');
    assert.equal(store.reservedConcurrencyTotal(), 10);
    store.setReservedConcurrency('a', 25);
    assert.equal(store.reservedConcurrencyTotal(), 25);
    store.setReservedConcurrency('a', undefined);
    assert.equal(store.getReservedConcurrency('a'), undefined);
    assert.equal(store.reservedConcurrencyTotal(), 0);
    store.setReservedConcurrency('a', undefined);
    assert.throws(() => store.setReservedConcurrency('ghost', 1), { name: 'ResourceNotFoundException' });
    store.close();
  });

  it('stores provisioned concurrency per qualifier and deletes it with its version, alias or function', () => {
    const store = new SqliteMetadataStore(freshFile(), arnOf);
    const f = record('f', 'f'.repeat(64));
    store.create(f);
    store.publishVersion('f', f.revisionId, snapshot);
    store.createAlias({
      functionName: 'f',
      name: 'live',
      functionVersion: '1',
      description: '',
      weights: {},
      revisionId: 'a1',
    });
    const pc = (qualifier: string, requested: number) => ({
      functionName: 'f',
      qualifier,
      requested,
      lastModified: 5,
    });
    assert.equal(store.putProvisioned(pc('1', 2)), true);
    assert.equal(store.putProvisioned(pc('1', 3)), true, 'a second Put replaces');
    assert.equal(store.putProvisioned(pc('live', 1)), true);
    assert.equal(store.putProvisioned({ ...pc('1', 1), functionName: 'ghost' }), false);
    assert.deepEqual(store.getProvisioned('f', '1'), pc('1', 3));
    assert.deepEqual(
      store.listProvisioned().map((r) => r.qualifier),
      ['1', 'live'],
    );
    assert.equal(store.deleteAlias('f', 'live'), true);
    assert.equal(store.getProvisioned('f', 'live'), undefined);
    assert.deepEqual(store.deleteVersion('f', '1').deleted?.version, '1');
    assert.equal(store.getProvisioned('f', '1'), undefined);
    store.putProvisioned(pc('7', 1));
    store.delete('f');
    assert.deepEqual(store.listProvisioned(), []);
    store.close();
  });

  it('migrates a schema 3 database in place, keeping its rows, and then stores event invoke configs', () => {
    const file = freshFile();
    // Build a real schema 3 database through the schema 1 -> 3 migrations of an older Kiln.
    const old = new Database(file);
    old.exec(`
      CREATE TABLE functions (name TEXT PRIMARY KEY, record TEXT NOT NULL, code_sha256 TEXT NOT NULL,
        code_size INTEGER NOT NULL, revision_id TEXT NOT NULL, last_version INTEGER NOT NULL DEFAULT 0) STRICT;
      CREATE TABLE versions (name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
        version INTEGER NOT NULL, record TEXT NOT NULL, code_sha256 TEXT NOT NULL, code_size INTEGER NOT NULL,
        revision_id TEXT NOT NULL, PRIMARY KEY (name, version)) STRICT;
      CREATE INDEX versions_code ON versions(code_sha256);
      CREATE TABLE aliases (name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
        alias TEXT NOT NULL, function_version TEXT NOT NULL, additional_version TEXT, routing TEXT NOT NULL,
        description TEXT NOT NULL, revision_id TEXT NOT NULL, PRIMARY KEY (name, alias)) STRICT;
      CREATE TABLE function_concurrency (name TEXT PRIMARY KEY REFERENCES functions(name) ON DELETE CASCADE,
        reserved INTEGER NOT NULL) STRICT;
      CREATE TABLE provisioned_concurrency (name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
        qualifier TEXT NOT NULL, requested INTEGER NOT NULL, last_modified INTEGER NOT NULL,
        PRIMARY KEY (name, qualifier)) STRICT;
      PRAGMA user_version = 3;`);
    const kept = record('old', 'c'.repeat(64));
    old
      .prepare('INSERT INTO functions VALUES (?, ?, ?, ?, ?, 1)')
      .run('old', JSON.stringify(kept), kept.code.sha256Hex, 10, kept.revisionId);
    old
      .prepare('INSERT INTO versions VALUES (?, 1, ?, ?, 10, ?)')
      .run('old', JSON.stringify(snapshot(kept, '1')), kept.code.sha256Hex, 'v1');
    old.prepare("INSERT INTO aliases VALUES ('old', 'live', '1', NULL, '{}', '', 'a1')").run();
    old.prepare("INSERT INTO function_concurrency VALUES ('old', 7)").run();
    old.prepare("INSERT INTO provisioned_concurrency VALUES ('old', 'live', 2, 9)").run();
    old.close();

    const store = new SqliteMetadataStore(file, arnOf);
    assert.deepEqual(store.get('old'), kept);
    assert.equal(store.getVersion('old', '1')?.revisionId, 'v1');
    assert.equal(store.getAlias('old', 'live')?.functionVersion, '1');
    assert.equal(store.getReservedConcurrency('old'), 7);
    assert.equal(store.getProvisioned('old', 'live')?.requested, 2);
    assert.deepEqual(store.listEventInvokeConfigs('old'), []);
    const config = { functionName: 'old', qualifier: 'live', maximumRetryAttempts: 0, lastModified: 3 };
    assert.equal(store.putEventInvokeConfig(config), true);
    store.close();

    const check = new Database(file, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), 4);
    check.close();
    const again = new SqliteMetadataStore(file, arnOf);
    assert.deepEqual(again.getEventInvokeConfig('old', 'live'), config, 'survives a reopen');
    again.close();
  });

  it('stores event invoke configs per qualifier, and deletes them with their version, alias or function', () => {
    const store = new SqliteMetadataStore(freshFile(), arnOf);
    const f = record('f', 'e'.repeat(64));
    store.create(f);
    for (let i = 0; i < 10; i++) store.publishVersion('f', f.revisionId, snapshot);
    store.createAlias({
      functionName: 'f',
      name: 'live',
      functionVersion: '1',
      description: '',
      weights: {},
      revisionId: 'a1',
    });
    const full = {
      functionName: 'f',
      qualifier: '$LATEST',
      maximumRetryAttempts: 1,
      maximumEventAgeInSeconds: 60,
      onSuccess: 'arn:aws:lambda:us-east-1:000000000000:function:ok',
      onFailure: 'arn:aws:lambda:us-east-1:000000000000:function:bad:live',
      lastModified: 11,
    };
    assert.equal(store.putEventInvokeConfig(full), true);
    assert.deepEqual(store.getEventInvokeConfig('f', '$LATEST'), full);
    // A Put replaces every setting: what it leaves out comes back absent, not as the old value.
    const sparse = { functionName: 'f', qualifier: '$LATEST', maximumRetryAttempts: 0, lastModified: 12 };
    assert.equal(store.putEventInvokeConfig(sparse), true);
    assert.deepEqual(store.getEventInvokeConfig('f', '$LATEST'), sparse);

    const at = (qualifier: string) => ({
      functionName: 'f',
      qualifier,
      maximumRetryAttempts: 2,
      lastModified: 1,
    });
    for (const q of ['live', '10', '2', '1']) assert.equal(store.putEventInvokeConfig(at(q)), true, q);
    assert.equal(store.putEventInvokeConfig(at('11')), false, 'no version 11');
    assert.equal(store.putEventInvokeConfig(at('gone')), false, 'no alias gone');
    assert.equal(store.putEventInvokeConfig({ ...at('$LATEST'), functionName: 'ghost' }), false);
    assert.deepEqual(
      store.listEventInvokeConfigs('f').map((c) => c.qualifier),
      ['$LATEST', '1', '2', '10', 'live'],
    );
    assert.equal(store.getEventInvokeConfig('f', 'gone'), undefined);

    assert.equal(store.deleteEventInvokeConfig('f', '10'), true);
    assert.equal(store.deleteEventInvokeConfig('f', '10'), false, 'already gone');
    assert.equal(store.deleteAlias('f', 'live'), true);
    assert.equal(store.getEventInvokeConfig('f', 'live'), undefined, 'went with its alias');
    assert.equal(store.deleteVersion('f', '2').deleted?.version, '2');
    assert.equal(store.getEventInvokeConfig('f', '2'), undefined, 'went with its version');
    // A version an alias routes to is kept, and so is its configuration.
    store.createAlias({
      functionName: 'f',
      name: 'pin',
      functionVersion: '1',
      description: '',
      weights: {},
      revisionId: 'a2',
    });
    assert.deepEqual(store.deleteVersion('f', '1').referencedBy, ['pin']);
    assert.ok(store.getEventInvokeConfig('f', '1'));
    assert.deepEqual(
      store.listEventInvokeConfigs('f').map((c) => c.qualifier),
      ['$LATEST', '1'],
    );
    store.delete('f');
    assert.deepEqual(store.listEventInvokeConfigs('f'), [], 'went with the function');
    store.create(record('f', 'e'.repeat(64), 'r2'));
    assert.equal(store.getEventInvokeConfig('f', '$LATEST'), undefined, 'a new function starts bare');
    store.close();
  });
});
