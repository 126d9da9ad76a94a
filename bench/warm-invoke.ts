// warm-invoke: a no-op Node function whose environments are already running, against a raw Node HTTP echo
// server driven by the same keep-alive node:http client (the floor for anything answering HTTP on this host).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeZip } from '../test/support/functions.js';
import { Budget, sleep } from './lib/budget.js';
import { Client, closedLoop, mergeLoops, perSecond, type LoopResult, type Reply } from './lib/http.js';
import { checkInvoke, invoke, logTail, parseReport, role, withKiln, type KilnApi } from './lib/kiln.js';
import { startEchoServer, startRelayFloor } from './lib/processes.js';
import { row, type Breakdown, type Row, type ScenarioResult, type Target } from './lib/report.js';
import { median, summarize } from './lib/stats.js';
import type { ScenarioContext } from './scenario.js';

const name = 'warm-invoke';
const payload = '{}';
/** Kiln freezes an idle environment this long after its invocation (KILN_FREEZE_AFTER_MS default). */
const idleMs = 150;

const noop = 'exports.handler = async () => {};\n';
// Reports when the handler ran, on the host clock, to split a warm invoke into its way in and its way out.
const stamp = 'exports.handler = async () => performance.timeOrigin + performance.now();\n';

interface Throughput {
  readonly echo: LoopResult;
  readonly kiln: LoopResult;
  readonly envsBefore: number;
  readonly envsAfter: number;
  readonly newEnvs: number;
}

export async function warmInvoke(ctx: ScenarioContext): Promise<ScenarioResult> {
  const q = ctx.quick;
  const c1Count = q ? 300 : 2000;
  const c1Warmup = q ? 100 : 300;
  const block = 10;
  const idleCount = q ? 5 : 20;
  const budget = new Budget(q ? 30_000 : 150_000);
  const notes: string[] = [];
  const echo = await startEchoServer();
  const series: Record<string, number[]> = {
    echo: [],
    kiln128: [],
    kiln1769: [],
    stamp: [],
    echoIdle: [],
    kilnIdle: [],
    echoForRelay: [],
    relay: [],
  };
  const stamps: { total: number; toHandler: number; fromHandler: number; duration?: number }[] = [];
  let frozenBeforeIdle = 0;
  const throughput = new Map<number, Throughput>();

  try {
    await withKiln(
      // Room for 64 environments of 128 MB, the 1769 MB ones and slack: a budget refusal must not end the run.
      { KILN_LOG_LEVEL: 'warn', KILN_WORKER_MEMORY_MB: String(64 * 128 + 2 * 1769 + 1024) },
      async (kiln, api: KilnApi) => {
        const create = async (fn: string, source: string, memory: number): Promise<void> => {
          await api.createFunction({
            FunctionName: fn,
            Runtime: 'nodejs20.x',
            Role: role,
            Handler: 'index.handler',
            MemorySize: memory,
            Code: { ZipFile: (await nodeZip(source)).toString('base64') },
          });
        };
        await create('noop-128', noop, 128);
        await create('noop-1769', noop, 1769);
        await create('stamp-1769', stamp, 1769);

        const echoClient = new Client(echo.port, 1);
        const kilnClient = new Client(kiln.port, 1);
        const callEcho = async (): Promise<number> => {
          const r = await echoClient.request('POST', '/2015-03-31/functions/echo/invocations', payload);
          if (r.status !== 200) throw new Error(`echo answered ${r.status}`);
          return r.ms;
        };
        const callKiln = async (fn: string, client = kilnClient): Promise<number> =>
          checkInvoke(await invoke(client, fn, payload), fn).ms;
        const callStamp = async (keep: boolean): Promise<number> => {
          const r: Reply = checkInvoke(await invoke(kilnClient, 'stamp-1769', payload, true), 'stamp-1769');
          const invokedAt = Number(r.body.toString('utf8'));
          const duration = parseReport(logTail(r))?.durationMs;
          if (keep) {
            stamps.push({
              total: r.ms,
              toHandler: invokedAt - r.sentAt,
              fromHandler: r.receivedAt - invokedAt,
              ...(duration !== undefined ? { duration } : {}),
            });
          }
          return r.ms;
        };

        // Concurrency 1: short blocks, echo and one Kiln function in turn (ABAB), so drift hits all alike. Blocks
        // rather than single requests because Kiln keeps working for a moment after it answered (the runtime's
        // next /next, timers), which would land on the echo request that follows; a pause between blocks lets
        // that settle. Short, so that no environment idles past KILN_FREEZE_AFTER_MS and gets frozen.
        const subjects: [string, (keep: boolean) => Promise<number>][] = [
          ['kiln128', () => callKiln('noop-128')],
          ['kiln1769', () => callKiln('noop-1769')],
          ['stamp', callStamp],
        ];
        try {
          // Node's JIT takes thousands of requests to settle; without this the echo floor reads low early on.
          const warm = new Client(echo.port, 8);
          await closedLoop(
            8,
            q ? 3000 : 6000,
            () => budget.expired,
            async () => {
              const r = await warm.request('POST', '/2015-03-31/functions/echo/invocations', payload);
              return r.ms;
            },
          );
          warm.close();
          // Kiln is a Node process too: a few hundred invokes leave much of its path unoptimised (compiling
          // still took a sixth of its CPU after 1,000), so each function gets the same thousands first.
          for (const [, call] of subjects) {
            await closedLoop(
              1,
              q ? 1000 : 2000,
              () => budget.expired,
              () => call(false),
            );
          }
          for (let done = -c1Warmup; done < c1Count && !budget.expired; done += block) {
            const keep = done >= 0;
            for (const [key, call] of subjects) {
              for (let i = 0; i < block; i++) {
                const e = await callEcho();
                if (keep) series.echo?.push(e);
              }
              await sleep(1);
              for (let i = 0; i < block; i++) {
                const k = await call(keep);
                if (keep) series[key]?.push(k);
              }
              await sleep(1);
            }
          }
          ctx.progress('concurrency 1 done');

          // What any design with a process per environment pays at least: one more hop (see startRelayFloor).
          const relayDir = mkdtempSync(join(tmpdir(), 'kiln-bench-relay-'));
          const relay = await startRelayFloor(join(relayDir, 's'));
          const relayClient = new Client(relay.port, 1);
          try {
            const callRelay = async (): Promise<number> => {
              const r = await relayClient.request('POST', '/2015-03-31/functions/relay/invocations', payload);
              if (r.status !== 200) throw new Error(`relay answered ${r.status}`);
              return r.ms;
            };
            await closedLoop(1, q ? 2000 : 6000, () => budget.expired, callRelay);
            for (let done = -c1Warmup; done < c1Count && !budget.expired; done += block) {
              for (const [key, call] of [
                ['echoForRelay', callEcho],
                ['relay', callRelay],
              ] as const) {
                for (let i = 0; i < block; i++) {
                  const ms = await call();
                  if (done >= 0) series[key]?.push(ms);
                }
                await sleep(1);
              }
            }
          } finally {
            relayClient.close();
            await relay.stop();
            rmSync(relayDir, { recursive: true, force: true });
          }
          ctx.progress('relay floor done');

          // Past KILN_FREEZE_AFTER_MS the environment is frozen: the next invoke pays for thawing it.
          for (let i = 0; i < idleCount && !budget.expired; i++) {
            await sleep(idleMs);
            const envs = await api.environments();
            if (envs.some((e) => e.FunctionName === 'noop-128' && e.Frozen)) frozenBeforeIdle += 1;
            series.echoIdle?.push(await callEcho());
            series.kilnIdle?.push(await callKiln('noop-128'));
          }
          ctx.progress('after-idle done');
        } finally {
          echoClient.close();
          kilnClient.close();
        }

        for (const concurrency of [8, 64]) {
          if (budget.expired) {
            notes.push(`concurrency ${concurrency} skipped: time budget (${budget.ms / 1000} s) exhausted`);
            continue;
          }
          const total = concurrency === 8 ? (q ? 2000 : 8000) : q ? 3200 : 12_800;
          const chunks = q ? 2 : 4;
          const eClient = new Client(echo.port, concurrency);
          const kClient = new Client(kiln.port, concurrency);
          try {
            const hit = async (): Promise<number> => {
              const r = await eClient.request('POST', '/2015-03-31/functions/echo/invocations', payload);
              if (r.status !== 200) throw new Error(`echo answered ${r.status}`);
              return r.ms;
            };
            const kilnHit = (): Promise<number> => callKiln('noop-128', kClient);
            // Kiln scales out one environment per concurrent request: ramp up so that no more than half of
            // them start at once on two cores, then run until every caller has an environment.
            for (let c = Math.min(16, concurrency); c <= concurrency; c *= 2) {
              await closedLoop(c, c * 4, () => budget.expired, kilnHit);
            }
            await closedLoop(concurrency, concurrency * 20, () => budget.expired, hit);
            const ids = async (): Promise<Set<string>> =>
              new Set(
                (await api.environments()).filter((e) => e.FunctionName === 'noop-128').map((e) => e.Id),
              );
            const before = await ids();
            const echoParts: LoopResult[] = [];
            const kilnParts: LoopResult[] = [];
            const chunk = Math.ceil(total / chunks);
            for (let i = 0; i < chunks && !budget.expired; i++) {
              echoParts.push(await closedLoop(concurrency, chunk, () => budget.expired, hit));
              kilnParts.push(await closedLoop(concurrency, chunk, () => budget.expired, kilnHit));
            }
            const after = await ids();
            throughput.set(concurrency, {
              echo: mergeLoops(echoParts),
              kiln: mergeLoops(kilnParts),
              envsBefore: before.size,
              envsAfter: after.size,
              newEnvs: [...after].filter((id) => !before.has(id)).length,
            });
          } finally {
            eClient.close();
            kClient.close();
          }
          ctx.progress(`concurrency ${concurrency} done`);
        }
      },
    );
  } finally {
    await echo.stop();
  }

  const rows: Row[] = [];
  const targets: Target[] = [];
  const s = (k: string): number[] => series[k] ?? [];
  const echoFloor = { series: 'echo server, c=1', summary: summarize(s('echo')) };
  rows.push(row(name, 'raw Node HTTP echo server, c=1 (floor)', echoFloor.summary));
  const k128 = summarize(s('kiln128'));
  const k1769 = summarize(s('kiln1769'));
  rows.push(row(name, 'Kiln Invoke no-op 128 MB, c=1', k128, echoFloor));
  rows.push(row(name, 'Kiln Invoke no-op 1769 MB, c=1', k1769, echoFloor));
  const relayEcho = { series: 'echo server, c=1 (beside the relay)', summary: summarize(s('echoForRelay')) };
  rows.push(
    row(
      name,
      'relay floor: HTTP server + a runtime process one unix-socket hop away, c=1',
      summarize(s('relay')),
      relayEcho,
      `the least a process per environment adds to the echo floor; Kiln's c=1 above it is its own and its runtime's work (echo beside it: ${relayEcho.summary.median.toFixed(3)} ms)`,
    ),
  );
  const idleEcho = { series: `echo, after ${idleMs} ms idle`, summary: summarize(s('echoIdle')) };
  rows.push(row(name, `raw Node HTTP echo server, after ${idleMs} ms idle`, idleEcho.summary));
  rows.push(
    row(
      name,
      `Kiln Invoke no-op 128 MB, after ${idleMs} ms idle`,
      summarize(s('kilnIdle')),
      idleEcho,
      `environment frozen before ${frozenBeforeIdle}/${s('kilnIdle').length}`,
    ),
  );
  for (const [concurrency, t] of throughput) {
    const e = { series: `echo server, c=${concurrency}`, summary: summarize(t.echo.latencies) };
    rows.push(
      row(
        name,
        `raw Node HTTP echo server, c=${concurrency}`,
        e.summary,
        undefined,
        `${perSecond(t.echo).toFixed(0)} req/s${t.echo.errors ? `; ${t.echo.errors} errors` : ''}`,
      ),
    );
    const errors = t.kiln.errors ? `; ${t.kiln.errors} ERRORS (${t.kiln.firstError ?? ''})` : '';
    rows.push(
      row(
        name,
        `Kiln Invoke no-op 128 MB, c=${concurrency}`,
        summarize(t.kiln.latencies),
        e,
        `${perSecond(t.kiln).toFixed(0)} req/s (echo/kiln ${(perSecond(t.echo) / perSecond(t.kiln)).toFixed(1)}x); environments ${t.envsBefore}→${t.envsAfter}, ${t.newEnvs} started while measuring${errors}`,
      ),
    );
    series[`echo c${concurrency}`] = t.echo.latencies;
    series[`kiln c${concurrency}`] = t.kiln.latencies;
  }

  targets.push({
    scenario: name,
    description: 'p50 at concurrency 1 within 1 ms end to end (128 MB function)',
    actual: `${k128.median.toFixed(3)} ms`,
    met: k128.median <= 1,
  });
  targets.push({
    scenario: name,
    description: 'p50 at concurrency 1 at most 4x the echo floor (128 MB function)',
    actual: `${(k128.median / echoFloor.summary.median).toFixed(2)}x (floor ${echoFloor.summary.median.toFixed(3)} ms)`,
    met: k128.median <= 4 * echoFloor.summary.median,
  });
  targets.push({
    scenario: name,
    description: 'the same two targets for a 1769 MB function (a full vCPU, no CFS throttling)',
    actual: `${k1769.median.toFixed(3)} ms, ${(k1769.median / echoFloor.summary.median).toFixed(2)}x`,
    met: k1769.median <= 1 && k1769.median <= 4 * echoFloor.summary.median,
  });

  const m = (f: (x: (typeof stamps)[number]) => number | undefined): number | undefined => {
    const v = stamps.flatMap((x) => {
      const y = f(x);
      return y === undefined ? [] : [y];
    });
    return v.length > 0 ? median(v) : undefined;
  };
  const breakdown: Breakdown = {
    title: 'warm invoke at c=1, where the time goes (stamp-1769, LogType Tail; medians)',
    columns: ['ms'],
    parts: [
      ['Invoke request → response (total)', [m((x) => x.total)]],
      ['request sent → handler invoked (clock)', [m((x) => x.toHandler)]],
      ['handler invoked → response received (clock)', [m((x) => x.fromHandler)]],
      ['REPORT Duration (Runtime API deliver → runtime posted result)', [m((x) => x.duration)]],
      [
        'outside Duration (HTTP edge, lookup, placement, logs, reply)',
        [m((x) => (x.duration === undefined ? undefined : x.total - x.duration))],
      ],
      ['echo floor (same client, c=1)', [echoFloor.summary.median]],
      ['Kiln above the floor (total − echo)', [(m((x) => x.total) ?? NaN) - echoFloor.summary.median]],
    ],
  };
  notes.push(
    'Client: node:http with a keep-alive Agent (maxSockets = concurrency), payload {}; the echo server is a separate ' +
      'Node process answering with the request body. Throughput runs alternate echo and Kiln in chunks (ABAB).',
  );
  return { name, rows, targets, breakdowns: [breakdown], notes, samples: series };
}
