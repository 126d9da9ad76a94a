// async: how fast Kiln accepts Event invocations (each durable before its 202) and drains them into a
// no-op function, against a raw SQLite insert loop (one durable commit per row) measured in the same run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { nodeZip } from '../test/support/functions.js';
import { sleep } from './lib/budget.js';
import { Client } from './lib/http.js';
import { role, withKiln } from './lib/kiln.js';
import { row, type ScenarioResult } from './lib/report.js';
import { summarize } from './lib/stats.js';
import type { ScenarioContext } from './scenario.js';

const name = 'async';
const parallel = 32;

/** The floor: the same small row committed durably (WAL, synchronous=FULL), one transaction per event. */
function rawInsertLoop(n: number): number {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-sqlite-'));
  try {
    const db = new Database(join(dir, 'events.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, payload BLOB NOT NULL)');
    const insert = db.prepare('INSERT INTO events (id, payload) VALUES (?, ?)');
    const started = performance.now();
    for (let i = 0; i < n; i++) insert.run(`event-${i}`, Buffer.from(`{"n":${i}}`));
    const ms = performance.now() - started;
    db.close();
    return ms / n;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface QueueView {
  Depth: number;
}

async function depth(c: Client): Promise<number> {
  const r = await c.request('GET', '/_kiln/async');
  return (JSON.parse(r.body.toString('utf8')) as QueueView).Depth;
}

async function setPaused(c: Client, paused: boolean): Promise<void> {
  const r = await c.request('POST', '/_kiln/async/pollers', JSON.stringify({ paused }));
  if (r.status !== 200) throw new Error(`pause: ${r.status} ${r.body.toString('utf8')}`);
}

/** Sends `n` Event invokes from `parallel` keep-alive connections; returns ms per accepted event. */
async function accept(c: Client, n: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  const sender = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const r = await c.request('POST', '/2015-03-31/functions/sink/invocations', `{"n":${i}}`, {
        'x-amz-invocation-type': 'Event',
      });
      if (r.status !== 202) throw new Error(`Event invoke answered ${r.status}: ${r.body.toString('utf8')}`);
    }
  };
  await Promise.all(Array.from({ length: parallel }, sender));
  return (performance.now() - started) / n;
}

/** Resumes the pollers and waits for the queue to empty; returns ms per drained event. */
async function drain(c: Client, n: number): Promise<number> {
  const started = performance.now();
  await setPaused(c, false);
  const deadline = started + 120_000;
  while ((await depth(c)) > 0) {
    if (performance.now() > deadline) throw new Error('the queue did not drain within 2 minutes');
    await sleep(2);
  }
  return (performance.now() - started) / n;
}

export async function asyncScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const rounds = ctx.quick ? 2 : 5;
  const perRound = ctx.quick ? 500 : 2000;
  const started = performance.now();
  const baseline: number[] = [];
  const accepted: number[] = [];
  const drained: number[] = [];
  await withKiln({ KILN_LOG_LEVEL: 'warn' }, async (kiln, api) => {
    await api.createFunction({
      FunctionName: 'sink',
      Runtime: 'nodejs20.x',
      Role: role,
      Handler: 'index.handler',
      // A full vCPU and room for the first wave of concurrent cold starts on a small shared host: an attempt
      // that timed out would be retried a minute later and measure the retry schedule, not the drain.
      MemorySize: 1769,
      Timeout: 30,
      Code: { ZipFile: (await nodeZip('exports.handler = async () => {};')).toString('base64') },
    });
    const c = new Client(kiln.port, parallel);
    try {
      // Warm-up: environments for every concurrent attempt exist before the first timed round.
      await setPaused(c, true);
      await accept(c, 200);
      await drain(c, 200);
      for (let r = 0; r < rounds; r++) {
        ctx.progress(`async: round ${r + 1}/${rounds}`);
        baseline.push(rawInsertLoop(perRound));
        await setPaused(c, true);
        accepted.push(await accept(c, perRound));
        drained.push(await drain(c, perRound));
      }
    } finally {
      c.agent.destroy();
    }
  });
  const base = { series: 'raw SQLite insert loop (1 commit per event)', summary: summarize(baseline) };
  const rate = (msPerEvent: readonly number[]): string =>
    `${Math.round(1000 / summarize(msPerEvent).median)} events/s (median of ${rounds} rounds of ${perRound})`;
  return {
    name,
    rows: [
      row(
        name,
        `accept: Event invoke → durable 202, c=${parallel} (ms/event)`,
        summarize(accepted),
        base,
        rate(accepted),
      ),
      row(
        name,
        'drain: queued → run in a no-op function (ms/event)',
        summarize(drained),
        base,
        rate(drained),
      ),
    ],
    targets: [],
    breakdowns: [],
    notes: [`raw SQLite insert loop: ${rate(baseline)}`],
    samples: { baseline, accepted, drained },
    elapsedMs: performance.now() - started,
  };
}
