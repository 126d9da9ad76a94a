// The SQLite metadata store: migrations from schemas 1, 3 and 4, versions, aliases, reserved and
// provisioned concurrency, event invoke configs, and two accounts holding the same names apart.
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
const arnOf = (account: string, name: string, q?: string): string =>
  `arn:test:${account}:${name}${q ? `:${q}` : ''}`;
/** The account a data dir made before accounts existed is given to. */
const A = '111111111111';
const B = '222222222222';

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

    const storeDb = new SqliteMetadataStore(file, A, arnOf);
    const store = storeDb.account(A);
    assert.deepEqual(store.get('old'), kept);
    assert.deepEqual(store.usage(), { functionCount: 1, totalCodeSize: 10 });
    const v1 = store.publishVersion('old', kept.revisionId, snapshot);
    assert.equal(v1?.version, '1');
    storeDb.close();

    const check = new Database(file, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), 5);
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
    const againDb = new SqliteMetadataStore(file, A, arnOf);
    const again = againDb.account(A);
    assert.equal(again.getVersion('old', '1')?.revisionId, 'v1');
    againDb.close();
  });

  it('refuses a database newer than it knows', () => {
    const file = freshFile();
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    assert.throws(() => new SqliteMetadataStore(file, A, arnOf), /schema 99 is newer/);
  });

  it('numbers versions without reuse, keeps their code referenced and deletes them with the function', () => {
    const storeDb = new SqliteMetadataStore(freshFile(), A, arnOf);
    const store = storeDb.account(A);
    const shaA = 'a'.repeat(64);
    const shaB = 'b'.repeat(64);
    store.create(record('f', shaA, 'r1'));
    assert.equal(store.publishVersion('f', 'stale', snapshot), undefined, 'RevisionId precondition');
    assert.equal(store.publishVersion('f', 'r1', snapshot)?.version, '1');
    assert.equal(store.publishVersion('f', 'r1', snapshot)?.version, '2');
    assert.ok(store.replace(record('f', shaB, 'r2'), 'r1'));
    assert.deepEqual(storeDb.referencedCode(), new Set([shaA, shaB]), 'published code is never garbage');
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
    assert.deepEqual(storeDb.referencedCode(), new Set());
    store.create(record('f', shaA, 'r9'));
    assert.equal(store.publishVersion('f', 'r9', snapshot)?.version, '1', 'a new function starts at 1');
    storeDb.close();
  });

  it('stores reserved concurrency per function and sums it', () => {
    const storeDb = new SqliteMetadataStore(freshFile(), A, arnOf);
    const store = storeDb.account(A);
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
    storeDb.close();
  });

  it('stores provisioned concurrency per qualifier and deletes it with its version, alias or function', () => {
    const storeDb = new SqliteMetadataStore(freshFile(), A, arnOf);
    const store = storeDb.account(A);
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
    storeDb.close();
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

    const storeDb = new SqliteMetadataStore(file, A, arnOf);
    const store = storeDb.account(A);
    assert.deepEqual(store.get('old'), kept);
    assert.equal(store.getVersion('old', '1')?.revisionId, 'v1');
    assert.equal(store.getAlias('old', 'live')?.functionVersion, '1');
    assert.equal(store.getReservedConcurrency('old'), 7);
    assert.equal(store.getProvisioned('old', 'live')?.requested, 2);
    assert.deepEqual(store.listEventInvokeConfigs('old'), []);
    const config = { functionName: 'old', qualifier: 'live', maximumRetryAttempts: 0, lastModified: 3 };
    assert.equal(store.putEventInvokeConfig(config), true);
    storeDb.close();

    const check = new Database(file, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), 5);
    check.close();
    const againDb = new SqliteMetadataStore(file, A, arnOf);
    const again = againDb.account(A);
    assert.deepEqual(again.getEventInvokeConfig('old', 'live'), config, 'survives a reopen');
    againDb.close();
  });

  it('stores event invoke configs per qualifier, and deletes them with their version, alias or function', () => {
    const storeDb = new SqliteMetadataStore(freshFile(), A, arnOf);
    const store = storeDb.account(A);
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
    storeDb.close();
  });

  it('migrates a schema 4 database to accounts: every row goes to the default account, nothing changes', () => {
    const file = freshFile();
    // Schema 4 exactly as the Kiln before accounts made it (v1 to v4 of store/sqlite/schema.ts).
    const old = new Database(file);
    old.pragma('foreign_keys = ON');
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
      CREATE TABLE event_invoke_config (name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
        qualifier TEXT NOT NULL, maximum_retry_attempts INTEGER, maximum_event_age INTEGER, on_success TEXT,
        on_failure TEXT, last_modified INTEGER NOT NULL, PRIMARY KEY (name, qualifier)) STRICT;
      PRAGMA user_version = 4;`);
    const f = record('f', 'd'.repeat(64));
    const g = record('g', 'e'.repeat(64));
    for (const r of [f, g]) {
      old
        .prepare('INSERT INTO functions VALUES (?, ?, ?, 10, ?, 2)')
        .run(r.config.name, JSON.stringify(r), r.code.sha256Hex, r.revisionId);
    }
    for (const v of ['1', '2']) {
      old
        .prepare('INSERT INTO versions VALUES (?, ?, ?, ?, 10, ?)')
        .run('f', Number(v), JSON.stringify(snapshot(f, v)), f.code.sha256Hex, `v${v}`);
    }
    old.prepare(`INSERT INTO aliases VALUES ('f', 'live', '2', '1', '{"1":0.25}', 'd', 'a1')`).run();
    old.prepare("INSERT INTO function_concurrency VALUES ('f', 7)").run();
    old.prepare("INSERT INTO provisioned_concurrency VALUES ('f', '2', 3, 9)").run();
    old.prepare("INSERT INTO event_invoke_config VALUES ('f', 'live', 1, 120, 'arn:s', NULL, 4)").run();
    old.close();

    const db = new SqliteMetadataStore(file, A, arnOf);
    const a = db.account(A);
    assert.deepEqual(a.get('f'), f);
    assert.deepEqual(
      a.list(10).items.map((r) => r.config.name),
      ['f', 'g'],
    );
    assert.deepEqual(
      a.listVersions('f', 0, 10).map((v) => v.revisionId),
      ['v1', 'v2'],
    );
    assert.deepEqual(a.getAlias('f', 'live'), {
      functionName: 'f',
      name: 'live',
      functionVersion: '2',
      description: 'd',
      weights: { '1': 0.25 },
      revisionId: 'a1',
    });
    assert.deepEqual(
      a.listAliases('f', '', 10, '1').map((x) => x.name),
      ['live'],
      'weighted column kept',
    );
    assert.equal(a.getReservedConcurrency('f'), 7);
    assert.deepEqual(a.getProvisioned('f', '2'), {
      functionName: 'f',
      qualifier: '2',
      requested: 3,
      lastModified: 9,
    });
    assert.deepEqual(a.getEventInvokeConfig('f', 'live'), {
      functionName: 'f',
      qualifier: 'live',
      maximumRetryAttempts: 1,
      maximumEventAgeInSeconds: 120,
      onSuccess: 'arn:s',
      lastModified: 4,
    });
    assert.deepEqual(db.referencedCode(), new Set([f.code.sha256Hex, g.code.sha256Hex]));
    assert.equal(a.publishVersion('f', f.revisionId, snapshot)?.version, '3', 'last_version kept');
    assert.equal(db.account(B).get('f'), undefined, 'nothing went to another account');
    // Foreign keys came back on: deleting the function still takes everything of it along.
    assert.ok(a.delete('f'));
    assert.deepEqual(a.listVersions('f', 0, 10), []);
    assert.deepEqual(db.allProvisioned(), []);
    db.close();

    const check = new Database(file, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), 5);
    assert.deepEqual(check.pragma('foreign_key_check'), []);
    assert.deepEqual(
      check
        .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .all()
        .map((t) => t.name),
      [
        'aliases',
        'event_invoke_config',
        'function_concurrency',
        'functions',
        'provisioned_concurrency',
        'versions',
      ],
    );
    check.close();
  });

  it('keeps accounts apart: the same names in two accounts are two functions with their own everything', () => {
    const db = new SqliteMetadataStore(freshFile(), A, arnOf);
    const a = db.account(A);
    const b = db.account(B);
    assert.equal(db.account(A), a, 'one view per account');
    const fa = record('same', 'a'.repeat(64), 'ra');
    const fb = record('same', 'b'.repeat(64), 'rb');
    a.create(fa);
    b.create(fb);
    assert.throws(
      () => b.create(fb),
      (e: Error) => e.name === 'ResourceConflictException' && /222222222222/.test(e.message),
    );
    assert.equal(a.get('same')?.code.sha256Hex, fa.code.sha256Hex);
    assert.equal(b.get('same')?.code.sha256Hex, fb.code.sha256Hex);
    assert.equal(b.replace({ ...fb, revisionId: 'x' }, 'ra'), false, "A's RevisionId means nothing in B");
    assert.equal(a.publishVersion('same', 'ra', snapshot)?.version, '1');
    assert.equal(b.getVersion('same', '1'), undefined);
    assert.equal(b.publishVersion('same', 'rb', snapshot)?.version, '1', 'B numbers its own versions');
    const alias = { functionName: 'same', name: 'live', functionVersion: '1', description: '', weights: {} };
    assert.ok(a.createAlias({ ...alias, revisionId: 'a1' }));
    assert.equal(b.getAlias('same', 'live'), undefined);
    assert.ok(b.createAlias({ ...alias, revisionId: 'b1' }));
    a.setReservedConcurrency('same', 10);
    b.setReservedConcurrency('same', 3);
    assert.equal(a.reservedConcurrencyTotal(), 10, 'each account sums its own reservations');
    assert.equal(b.reservedConcurrencyTotal(), 3);
    assert.ok(a.putProvisioned({ functionName: 'same', qualifier: '1', requested: 2, lastModified: 1 }));
    assert.deepEqual(b.listProvisioned(), []);
    assert.ok(
      b.putEventInvokeConfig({
        functionName: 'same',
        qualifier: 'live',
        maximumRetryAttempts: 0,
        lastModified: 1,
      }),
    );
    assert.equal(a.getEventInvokeConfig('same', 'live'), undefined);
    assert.equal(
      b.putEventInvokeConfig({ functionName: 'only-a', qualifier: '$LATEST', lastModified: 1 }),
      false,
    );
    a.create(record('only-a', 'c'.repeat(64)));
    assert.equal(b.get('only-a'), undefined);
    assert.equal(
      b.putEventInvokeConfig({ functionName: 'only-a', qualifier: '$LATEST', lastModified: 1 }),
      false,
    );
    assert.equal(
      b.putProvisioned({ functionName: 'only-a', qualifier: '1', requested: 1, lastModified: 1 }),
      false,
    );
    assert.throws(() => b.setReservedConcurrency('only-a', 1), { name: 'ResourceNotFoundException' });
    assert.equal(b.createAlias({ ...alias, functionName: 'only-a', revisionId: 'x' }), false);
    assert.deepEqual(a.usage(), { functionCount: 2, totalCodeSize: 30 });
    assert.deepEqual(b.usage(), { functionCount: 1, totalCodeSize: 20 });
    assert.deepEqual(
      b.list(10).items.map((r) => r.config.name),
      ['same'],
    );
    assert.deepEqual(db.allProvisioned(), [
      { accountId: A, functionName: 'same', qualifier: '1', requested: 2, lastModified: 1 },
    ]);
    // Deleting B's function leaves A's, with its versions, alias, reservation and provisioned config.
    assert.ok(b.delete('same'));
    assert.equal(b.get('same'), undefined);
    assert.equal(a.getVersion('same', '1')?.version, '1');
    assert.ok(a.getAlias('same', 'live'));
    assert.equal(a.getReservedConcurrency('same'), 10);
    assert.equal(b.reservedConcurrencyTotal(), 0);
    assert.equal(db.allProvisioned().length, 1);
    assert.equal(b.deleteAlias('same', 'live'), false);
    db.close();
  });
  it('reads its own writes through the record cache, and hands out records no reader can change', () => {
    const storeDb = new SqliteMetadataStore(freshFile(), A, arnOf);
    const store = storeDb.account(A);
    store.create(record('f', 'a'.repeat(64), 'r1'));
    const first = store.get('f');
    assert.equal(first?.revisionId, 'r1');
    assert.equal(store.get('f'), first, 'a second read is the cached record');
    assert.throws(() => {
      (first as { revisionId: string }).revisionId = 'mutated';
    }, TypeError);
    assert.throws(() => {
      (first?.config.environment as Record<string, string>).X = '1';
    }, TypeError);

    assert.equal(store.replace(record('f', 'b'.repeat(64), 'r2'), 'r1'), true);
    assert.equal(store.get('f')?.code.sha256Hex, 'b'.repeat(64), 'an update is seen at once');
    assert.equal(store.publishVersion('f', 'r2', snapshot)?.version, '1');
    assert.equal(store.getVersion('f', '1')?.revisionId, 'v1');
    assert.equal(store.deleteVersion('f', '1').deleted?.version, '1');
    assert.equal(store.getVersion('f', '1'), undefined, 'a deleted version is gone from the cache too');

    assert.equal(store.publishVersion('f', 'r2', snapshot)?.version, '2');
    assert.equal(store.getVersion('f', '2')?.version, '2');
    store.delete('f');
    assert.equal(store.get('f'), undefined);
    assert.equal(store.getVersion('f', '2'), undefined);
    // A new function of the same name starts from nothing: no version of the deleted one shows through.
    store.create(record('f', 'c'.repeat(64), 'r3'));
    assert.equal(store.get('f')?.revisionId, 'r3');
    assert.equal(store.getVersion('f', '2'), undefined);
    storeDb.close();
  });
});
