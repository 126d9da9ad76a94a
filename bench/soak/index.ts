// soak: minutes of mixed control-plane churn, synchronous and Event invocations over well-behaved,
// crashing and timing-out functions (Node, Python, bash), then checks that no accepted event was lost,
// the platform answered nothing but what it should, its memory, descriptors and processes stayed flat,
// and SIGTERM left nothing behind. Pass/fail per criterion; the time series go to the JSON file.
import { CreateFunctionCommand, PutFunctionEventInvokeConfigCommand } from '@aws-sdk/client-lambda';
import { KilnApi as AsyncApi, KilnLogs } from '../../src/client/index.js';
import { sdk } from '../../test/support/lambda.js';
import { logsSdk } from '../../test/support/logs.js';
import { removeDir, startKiln, type KilnProcess } from '../../test/support/server.js';
import { sleep } from '../lib/budget.js';
import { onCleanup } from '../lib/cleanup.js';
import { KilnApi, role, shutdown } from '../lib/kiln.js';
import { row, type ScenarioResult } from '../lib/report.js';
import { summarize } from '../lib/stats.js';
import type { Scenario, ScenarioContext } from '../scenario.js';
import { functionArn, recorder, recorders, stable } from './fleet.js';
import { leftoversAfter } from './leftovers.js';
import { Load } from './load.js';
import { scanPlatformLog } from './platform-log.js';
import { reconcile } from './reconcile.js';
import { processTree } from './resources.js';
import { Sampler } from './sampler.js';
import { Tally } from './tally.js';
import { eventsTarget, flatness, leftoversTarget, platformTargets } from './verdicts.js';

const name = 'soak';
const sampleEveryMs = 5000;
/** Idle environments go after 6 s instead of 5 minutes, so a quiet point reclaims everything quickly. */
const keepAliveMs = 6000;
const quietMaxMs = 45_000;
/** Events of `node-throw` are retried 60 s after their first attempt: the drain must outlast that. */
const drainMaxMs = 150_000;
const stopMaxMs = 40_000;
/** After Kiln is reaped, how long its helpers may take to finish exiting before they count as left behind. */
const exitGraceMs = 2000;

const minutesOf = (ctx: Pick<ScenarioContext, 'quick' | 'minutes'>): number =>
  ctx.minutes ?? (ctx.quick ? 1.5 : 10);

/**
 * A sandbox uid range of this run's own, outside the test harness's (300,000 + 200 per slot), so that
 * after shutdown any process running as one of these uids is certainly this instance's leftover.
 */
const uidBase = 2_000_000 + (process.pid % 1000) * 200;
const uidCount = 200;

async function createFleet(lambda: ReturnType<typeof sdk>): Promise<void> {
  for (const r of Object.values(recorders)) {
    await lambda.send(new CreateFunctionCommand({ FunctionName: r, Role: role, ...(await recorder()) }));
  }
  for (const f of stable) {
    await lambda.send(new CreateFunctionCommand({ FunctionName: f.name, Role: role, ...(await f.create()) }));
    await lambda.send(
      new PutFunctionEventInvokeConfigCommand({
        FunctionName: f.name,
        MaximumRetryAttempts: f.maxRetries,
        DestinationConfig: {
          OnSuccess: { Destination: functionArn(recorders.success) },
          OnFailure: { Destination: functionArn(recorders.failure) },
        },
      }),
    );
  }
}

/** SIGTERM and wait; SIGKILL after `stopMaxMs`. Returns whether it exited on SIGTERM. */
async function stop(kiln: KilnProcess): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), stopMaxMs)));
  const done = await Promise.race([kiln.stop(), late]);
  clearTimeout(timer);
  if (done !== 'late') return true;
  await kiln.kill();
  return false;
}

async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const minutes = minutesOf(ctx);
  const cycleMs = ctx.quick ? 25_000 : 60_000;
  const began = Date.now();
  const kiln = await startKiln({
    env: {
      KILN_KEEP_ALIVE_MS: String(keepAliveMs),
      KILN_SANDBOX_UID_BASE: String(uidBase),
      KILN_SANDBOX_UID_COUNT: String(uidCount),
    },
  });
  const api = new KilnApi(kiln.port);
  const unregister = onCleanup(async () => {
    api.close();
    await shutdown(kiln);
  });
  const lambda = sdk(kiln.endpoint);
  const asyncApi = new AsyncApi(kiln.endpoint, kiln.credentials);
  const logs = new KilnLogs(logsSdk(kiln.endpoint));
  const tally = new Tally();
  const sampler = new Sampler(kiln, api, asyncApi, tally, began);
  const load = new Load(lambda, tally, began);
  try {
    await createFleet(lambda);
    ctx.progress(
      `fleet created; ${minutes} min of load in cycles of ${cycleMs / 1000} s, each followed by a quiet point`,
    );
    const end = began + minutes * 60_000;
    let cycles = 0;
    let loadMs = 0;
    while (Date.now() < end) {
      sampler.start(sampleEveryMs);
      const phaseMs = Math.min(cycleMs, end - Date.now());
      await load.phase(phaseMs);
      loadMs += phaseMs;
      cycles += 1;
      await sampler.stop();
      const q = await sampler.quiet(quietMaxMs);
      ctx.progress(
        `cycle ${cycles}: ${load.accepted.length} events accepted, ${tally.platformErrors} platform errors, ` +
          `${tally.unexpected} unexpected; quiet${q?.settled ? '' : ' (NOT settled)'}: RSS ${q?.rssMb.toFixed(1)} MB, ` +
          `${q?.fds} fds, ${q?.platformProcesses} platform processes`,
      );
    }

    ctx.progress(`load over; draining the queue (at most ${drainMaxMs / 1000} s)`);
    const drainStarted = Date.now();
    let drained = false;
    while (!drained && Date.now() - drainStarted < drainMaxMs) {
      const q = await asyncApi.asyncQueue();
      drained = q.Depth === 0 && q.InFlight === 0;
      if (!drained) await sleep(1000);
    }
    const drainSeconds = (Date.now() - drainStarted) / 1000;
    await sampler.quiet(quietMaxMs);
    ctx.progress(`drained in ${drainSeconds.toFixed(0)} s; reconciling ${load.accepted.length} events`);
    const reconciliation = await reconcile(asyncApi, logs, load.accepted);

    const pid = kiln.child.pid ?? -1;
    const tree = processTree(pid);
    ctx.progress('stopping Kiln (SIGTERM) and looking for leftovers');
    api.close();
    const exitedOnTerm = await stop(kiln);
    const left = await leftoversAfter(
      { tree, uidBase, uidCount, cgroupParent: kiln.cgroupParent, dataDir: kiln.dataDir },
      exitGraceMs,
    );
    removeDir(kiln.dataDir);
    unregister();

    const platformLog = scanPlatformLog(kiln.output());
    const flat = flatness(sampler.samples);
    const targets = [
      eventsTarget(reconciliation, drained),
      ...platformTargets(tally, platformLog),
      ...flat.targets,
      leftoversTarget(left, exitedOnTerm),
    ];
    const counts = Object.fromEntries([...tally.counts].sort(([a], [b]) => a.localeCompare(b)));
    const rows = [...tally.latencies]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([op, ms]) => row(name, op, summarize(ms), undefined, `${ms.length} calls`));
    const notes = [
      `${(loadMs / 60_000).toFixed(1)} min of load in ${cycles} cycles, ${((Date.now() - began) / 60_000).toFixed(1)} min in all; ` +
        `queue drained in ${drainSeconds.toFixed(0)} s`,
      `answers: ${Object.entries(counts)
        .map(([k, v]) => `${k} ${v}`)
        .join('; ')}`,
      `Kiln's log: ${platformLog.errors.length} error lines, ${platformLog.otherLines} other lines, warnings: ${
        Object.entries(platformLog.warnings)
          .map(([msg, w]) => `${msg} ×${w.count}, first: ${w.first}`)
          .join('; ') || 'none'
      }`,
      ...sampler.samples
        .filter((s) => s.remaining !== undefined)
        .slice(0, 3)
        .map((s) => `quiet point at ${s.t.toFixed(0)} s never settled: ${JSON.stringify(s.remaining)}`),
      ...platformLog.errors.slice(0, 5).map((l) => `error line: ${l}`),
      ...tally.platformExamples.slice(0, 5).map((e) => `platform error: ${e}`),
      ...tally.unexpectedExamples.slice(0, 5).map((e) => `unexpected: ${e}`),
      ...reconciliation.examples.slice(0, 5).map((e) => `events: ${e}`),
    ];
    return {
      name,
      rows,
      targets,
      breakdowns: [],
      notes,
      samples: Object.fromEntries(tally.latencies),
      details: {
        minutes,
        cycles,
        loadMs,
        drainSeconds,
        keepAliveMs,
        counts,
        reconciliation,
        platformLog,
        platformExamples: tally.platformExamples,
        unexpectedExamples: tally.unexpectedExamples,
        trends: flat.trends,
        leftovers: left,
        timeSeries: sampler.samples,
      },
      elapsedMs: Date.now() - began,
    };
  } finally {
    await sampler.stop();
  }
}

export const soak: Scenario = {
  name,
  summary:
    'minutes of create/update/delete churn, sync and Event invokes with crashes and timeouts: lost events, errors, RSS/fds/processes, leftovers',
  optIn: true,
  extraWatchdogMs: (ctx) => minutesOf(ctx) * 60_000 + drainMaxMs + 5 * 60_000,
  run,
};
