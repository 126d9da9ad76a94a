// `npm run bench [-- --quick] [-- --only cold-start,warm-invoke]`: on-demand benchmarks, never part of the
// test suite. Every figure is compared with a baseline measured in the same run, because the machines this
// runs on are shared and their speed drifts; results go to bench/results/<timestamp>.json and stdout.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../test/support/server.js';
import { asyncScenario } from './async.js';
import { coldStart } from './cold-start.js';
import { hostile } from './hostile.js';
import { memory } from './memory.js';
import { peers } from './peers.js';
import { runtimeFloor } from './runtime-floor.js';
import { ensurePeersInstalled } from './lib/peers.js';
import { controlPlane } from './control-plane.js';
import { soak } from './soak/index.js';
import { runCleanups } from './lib/cleanup.js';
import { renderBreakdown, renderRows, renderTargets, type ScenarioResult } from './lib/report.js';
import type { Scenario } from './scenario.js';
import { warmInvoke } from './warm-invoke.js';

const scenarios: readonly Scenario[] = [
  {
    name: 'cold-start',
    summary: 'Invoke of never-run Node, Python and bash functions vs bare and bwrap process starts',
    run: coldStart,
  },
  {
    name: 'warm-invoke',
    summary: 'warm no-op Invoke latency (c=1) and throughput (c=8, c=64) vs a raw Node HTTP echo server',
    run: warmInvoke,
  },
  {
    name: 'control-plane',
    summary: 'CreateFunction and UpdateFunctionCode with 1 MB zips vs fsync + SQLite insert',
    run: controlPlane,
  },
  {
    name: 'async',
    summary:
      'Event invokes accepted (durable 202) and drained into a no-op function vs a raw SQLite insert loop',
    run: asyncScenario,
  },
  {
    name: 'hostile',
    summary:
      "a benign function's warm invoke p50/p99 while others spin, fork-bomb, memory-bomb, fill /tmp and flood logs",
    run: hostile,
  },
  {
    name: 'peers',
    summary:
      'warm no-op Invoke on Kiln vs serverless-offline and lambda-local (c=1 latency, c=8/c=64 throughput) vs a raw echo server',
    prepare: ensurePeersInstalled,
    run: peers,
  },
  {
    name: 'memory',
    summary:
      "the platform's memory per idle warm environment beyond the runtime process (PSS, RSS), 0 vs N idle",
    run: memory,
  },
  {
    name: 'runtime-floor',
    summary:
      "runtime CPU per warm invoke with 1, 8 and 64 unsandboxed runtime processes: Kiln's Node client vs a minimal one",
    run: runtimeFloor,
  },
  soak,
];

const usage = `usage: node dist/bench/run.js [--quick] [--only <name>[,<name>…]] [--minutes <n>]
scenarios: ${scenarios.map((s) => s.name).join(', ')}
without --only, every scenario but ${scenarios
  .filter((s) => s.optIn)
  .map((s) => s.name)
  .join(', ')}; --minutes sets how long time-bounded scenarios (soak) run`;

function parse(): { quick: boolean; minutes: number | undefined; only: Scenario[] } {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      minutes: { type: 'string' },
      only: { type: 'string', multiple: true },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const names = (values.only ?? []).flatMap((v) => v.split(',')).filter(Boolean);
  const unknown = names.filter((n) => !scenarios.some((s) => s.name === n));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}\n${usage}`);
  const minutes = values.minutes === undefined ? undefined : Number(values.minutes);
  if (minutes !== undefined && !(minutes > 0 && minutes <= 120)) {
    throw new Error(`--minutes must be a number of minutes above 0 and at most 120\n${usage}`);
  }
  return {
    quick: values.quick ?? false,
    minutes,
    only:
      names.length === 0
        ? scenarios.filter((s) => !s.optIn)
        : scenarios.filter((s) => names.includes(s.name)),
  };
}

function host(): Record<string, unknown> {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    totalMemMb: Math.round(os.totalmem() / 1024 / 1024),
    kernel: os.release(),
    node: process.version,
    loadavg: os.loadavg(),
  };
}

async function main(): Promise<number> {
  let opts: ReturnType<typeof parse>;
  try {
    opts = parse();
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const results: (ScenarioResult | { name: string; error: string })[] = [];
  let failed = false;
  const runnable: Scenario[] = [];
  for (const scenario of opts.only) {
    try {
      scenario.prepare?.();
      runnable.push(scenario);
    } catch (err) {
      failed = true;
      console.error(`bench: ${scenario.name} could not be prepared: ${(err as Error).message}`);
      results.push({ name: scenario.name, error: (err as Error).message });
    }
  }
  const startedAt = new Date();
  // A last resort on top of each scenario's own budget: whatever happens, the run ends and cleans up.
  const watchdogMs =
    (opts.quick ? 360_000 : 1_200_000) +
    runnable.reduce((sum, s) => sum + (s.extraWatchdogMs?.(opts) ?? 0), 0);
  const watchdog = setTimeout(() => {
    console.error(`bench: still running after ${watchdogMs / 1000} s; stopping everything`);
    void runCleanups().finally(() => process.exit(3));
  }, watchdogMs);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`bench: ${signal}, cleaning up`);
      void runCleanups().finally(() => process.exit(130));
    });
  }

  console.error(
    `bench: ${runnable.map((s) => s.name).join(', ')}${opts.quick ? ' (quick)' : ''}; load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (const scenario of runnable) {
    const began = Date.now();
    console.error(`bench: ${scenario.name}: ${scenario.summary}`);
    try {
      const result = await scenario.run({
        quick: opts.quick,
        minutes: opts.minutes,
        progress: (m) =>
          console.error(`bench: ${scenario.name}: ${m} (${((Date.now() - began) / 1000).toFixed(1)} s)`),
      });
      results.push({ ...result, elapsedMs: Date.now() - began });
    } catch (err) {
      failed = true;
      console.error(`bench: ${scenario.name} failed: ${(err as Error).stack ?? String(err)}`);
      results.push({ name: scenario.name, error: (err as Error).message });
    } finally {
      await runCleanups();
    }
    console.error(`bench: ${scenario.name} took ${((Date.now() - began) / 1000).toFixed(1)} s`);
  }
  clearTimeout(watchdog);

  const ok = results.filter((r): r is ScenarioResult => !('error' in r));
  console.log('');
  console.log(renderRows(ok.flatMap((r) => r.rows)));
  const targets = ok.flatMap((r) => r.targets);
  if (targets.some((t) => t.gate && !t.met)) failed = true;
  if (targets.length > 0) {
    console.log('\nTargets');
    console.log(renderTargets(targets));
  }
  for (const b of ok.flatMap((r) => r.breakdowns)) console.log(`\n${renderBreakdown(b)}`);
  for (const r of results) {
    if ('error' in r) console.log(`\n${r.name}: FAILED: ${r.error}`);
    else if (r.notes.length > 0)
      console.log(`\n${r.name} notes:\n${r.notes.map((n) => `- ${n}`).join('\n')}`);
  }
  console.log(
    '\nratio = subject median / baseline median, both measured in this run (interleaved); above 1 is slower.',
  );

  const dir = join(repoRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        quick: opts.quick,
        host: host(),
        results,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results: ${file}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    console.error(err);
    await runCleanups();
    process.exit(1);
  },
);
