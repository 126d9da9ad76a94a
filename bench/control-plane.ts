// control-plane: CreateFunction and UpdateFunctionCode with a 1 MB package, against the storage floor any
// durable implementation must pay for the same request.
import { randomBytes, createHash } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { rawZip } from '../test/support/zips.js';
import { Budget } from './lib/budget.js';
import { onCleanup } from './lib/cleanup.js';
import { role, withKiln } from './lib/kiln.js';
import { row, type Row, type ScenarioResult } from './lib/report.js';
import { summarize, type Summary } from './lib/stats.js';
import type { ScenarioContext } from './scenario.js';

const name = 'control-plane';
const MB = 1024 * 1024;
const handler = 'exports.handler = async () => {};\n';

/**
 * A 1 MB package that cannot shrink: random bytes, stored (method 0), so neither the zip nor any compression
 * Kiln might apply makes it cheaper. Fresh bytes every time, since the code store is content-addressed and
 * would skip writing a package it already has.
 */
const freshZip = (): Buffer =>
  rawZip([
    { name: 'index.js', data: Buffer.from(handler), method: 0 },
    // Header and central-directory overhead keeps the whole zip within a few hundred bytes of 1 MiB.
    { name: 'blob.bin', data: randomBytes(MB - 256), method: 0 },
  ]);

/**
 * The floor, in this process with synchronous calls: what a CreateFunction must do to be durable, and nothing
 * else. sha256 of the package (Lambda's CodeSha256), written to a temp file, fsynced, renamed into place, the
 * directory fsynced, then one row committed to SQLite in WAL mode with synchronous=FULL (Kiln's settings).
 * No HTTP, no JSON or base64, no zip inspection, no validation.
 */
class StorageFloor {
  private readonly dir = mkdtempSync(join(tmpdir(), 'kiln-bench-floor-'));
  private readonly codeDir = join(this.dir, 'code');
  private readonly db: Database.Database;
  private readonly insert: Database.Statement<[string, string, string]>;
  private n = 0;

  constructor() {
    mkdirSync(this.codeDir);
    this.db = new Database(join(this.dir, 'metadata.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(
      'CREATE TABLE functions (name TEXT PRIMARY KEY, record TEXT NOT NULL, code_sha256 TEXT NOT NULL)',
    );
    this.insert = this.db.prepare('INSERT INTO functions (name, record, code_sha256) VALUES (?, ?, ?)');
  }

  op(zip: Buffer): number {
    const started = performance.now();
    const sha = createHash('sha256').update(zip).digest('hex');
    const temp = join(this.codeDir, `tmp-${++this.n}`);
    const fd = openSync(temp, 'w', 0o600);
    try {
      writeSync(fd, zip);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, join(this.codeDir, `${sha}.zip`));
    const dirFd = openSync(this.codeDir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    const fn = `floor-${this.n}`;
    this.insert.run(fn, JSON.stringify({ name: fn, codeSha256: sha, codeSize: zip.length }), sha);
    return performance.now() - started;
  }

  close(): void {
    this.db.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const opsNote = (s: Summary, values: readonly number[]): string => {
  const sustained = (values.length / values.reduce((a, b) => a + b, 0)) * 1000;
  return `${(1000 / s.median).toFixed(1)} ops/s at the median, ${sustained.toFixed(1)} ops/s sustained (one at a time)`;
};

export async function controlPlane(ctx: ScenarioContext): Promise<ScenarioResult> {
  const count = ctx.quick ? 8 : 40;
  const warmup = 3;
  const budget = new Budget(ctx.quick ? 15_000 : 60_000);
  const notes: string[] = [];
  const floor = new StorageFloor();
  const unregister = onCleanup(async () => floor.close());
  const base: number[] = [];
  const creates: number[] = [];
  const updates: number[] = [];
  let zipSize = 0;

  try {
    await withKiln({ KILN_LOG_LEVEL: 'warn' }, async (_kiln, api) => {
      await api.createFunction({
        FunctionName: 'cp-update',
        Runtime: 'nodejs20.x',
        Role: role,
        Handler: 'index.handler',
        Code: { ZipFile: freshZip().toString('base64') },
      });
      for (let i = 0; i < warmup + count; i++) {
        if (budget.expired) {
          notes.push(`stopped at the time budget (${budget.ms / 1000} s) after ${creates.length} samples`);
          break;
        }
        const keep = i >= warmup;
        // Packages and request bodies are made before the clock starts: only the server's work is timed.
        const createZip = freshZip();
        zipSize = createZip.length;
        const createBody = JSON.stringify({
          FunctionName: `cp-${i}`,
          Runtime: 'nodejs20.x',
          Role: role,
          Handler: 'index.handler',
          Code: { ZipFile: createZip.toString('base64') },
        });
        const updateBody = Buffer.from(JSON.stringify({ ZipFile: freshZip().toString('base64') }));
        // Floor and Kiln alternate (ABAB) so that disk and CPU drift hit both alike.
        const b1 = floor.op(freshZip());
        const c = await api.client.request('POST', '/2015-03-31/functions', createBody, {
          'content-type': 'application/json',
        });
        if (c.status !== 201) throw new Error(`CreateFunction answered ${c.status}: ${c.body.toString()}`);
        const b2 = floor.op(freshZip());
        const u = await api.updateFunctionCode('cp-update', updateBody);
        if (keep) {
          base.push(b1, b2);
          creates.push(c.ms);
          updates.push(u.ms);
        }
      }
      ctx.progress(`${creates.length} creates and updates done`);
    });
  } finally {
    unregister();
    floor.close();
  }

  const floorSummary = summarize(base);
  const baseline = { series: 'storage floor (see notes)', summary: floorSummary };
  const createSummary = summarize(creates);
  const updateSummary = summarize(updates);
  const rows: Row[] = [
    row(
      name,
      'floor: sha256 + fsync 1 MB file + rename + dir fsync + SQLite insert (WAL, FULL)',
      floorSummary,
      undefined,
      opsNote(floorSummary, base),
    ),
    row(
      name,
      `Kiln CreateFunction, ${zipSize} B stored zip`,
      createSummary,
      baseline,
      opsNote(createSummary, creates),
    ),
    row(
      name,
      `Kiln UpdateFunctionCode, ${zipSize} B stored zip`,
      updateSummary,
      baseline,
      opsNote(updateSummary, updates),
    ),
  ];
  notes.push(
    'Baseline: the storage work any durable CreateFunction must do, run in this process with synchronous calls: ' +
      'sha256 of the 1 MB package (Lambda reports CodeSha256), write it to a temp file, fsync, rename, fsync the ' +
      'directory, then commit one row to SQLite (WAL, synchronous=FULL, as Kiln configures it). Kiln adds HTTP, ' +
      'JSON and base64 decoding of a 1.4 MB body, validation, zip inspection (every entry read and CRC-checked), ' +
      'and for UpdateFunctionCode the sweep of unreferenced packages.',
    'Kiln requests are raw HTTP on a keep-alive connection, one at a time; every package is new random bytes.',
  );
  return {
    name,
    rows,
    targets: [],
    breakdowns: [],
    notes,
    samples: { floor: base, create: creates, update: updates },
  };
}
