// memory: what the platform holds per idle warm environment beyond the runtime process itself. Kiln's own process
// and every helper it keeps per environment (bwrap twice, the socat relay, …) are measured with 0 and then with N
// idle environments of distinct functions; (platform at N − platform at 0) / N is the figure, against the runtime
// process's own memory per environment (what a function costs anyway, sandbox or not).
import { nodeZip } from '../test/support/functions.js';
import { Budget, sleep } from './lib/budget.js';
import { Client } from './lib/http.js';
import { checkInvoke, invoke, role, withKiln, type KilnApi } from './lib/kiln.js';
import { cgroupUsageKiB, runtimeKind, snapshot, type ProcessMemory } from './lib/memory.js';
import { row, type Breakdown, type Row, type ScenarioResult, type Target } from './lib/report.js';
import { median, summarize } from './lib/stats.js';
import type { ScenarioContext } from './scenario.js';

const name = 'memory';
const noop = 'exports.handler = async () => {};\n';
const targetMiB = 5;
/** Snapshots per state, a little apart, so one garbage collection in Kiln does not decide the result. */
const snapshots = 5;

const mib = (kib: number): number => kib / 1024;

interface State {
  /** Per snapshot, the processes seen. */
  readonly snaps: ProcessMemory[][];
  readonly cgroupKiB: Map<string, number>;
}

interface Pass {
  readonly label: string;
  readonly n: number;
  readonly zero: State;
  readonly full: State;
}

const total = (
  procs: readonly ProcessMemory[],
  pick: (p: ProcessMemory) => boolean,
  f: 'pssKiB' | 'rssKiB',
) => procs.filter(pick).reduce((s, p) => s + p[f], 0);
const zygotePrefix = 'zygote pool: ';
const unlistedPrefix = 'sandbox listed neither as environment nor zygote: ';
// The zygote pool is a fixed cost of the instance, not of any environment: its processes are reported apart, as
// are those of a sandbox that appeared or went while the snapshots were taken.
const isPlatform = (p: ProcessMemory): boolean =>
  p.kind !== runtimeKind && !p.kind.startsWith(zygotePrefix) && !p.kind.startsWith(unlistedPrefix);

async function take(api: KilnApi, kilnPid: number, cgroupParent: string): Promise<State> {
  const before = await api.listing();
  const snaps: ProcessMemory[][] = [];
  for (let i = 0; i < snapshots; i++) {
    if (i > 0) await sleep(200);
    snaps.push(snapshot(kilnPid, cgroupParent));
  }
  const after = await api.listing();
  const envs = new Set([...before.Environments, ...after.Environments].map((e) => e.Id));
  const zygotes = new Set([...before.Zygotes, ...after.Zygotes].map((z) => z.Id));
  const relabel = (p: ProcessMemory): ProcessMemory => {
    if (p.env === undefined || envs.has(p.env)) return p;
    return { ...p, kind: `${zygotes.has(p.env) ? zygotePrefix : unlistedPrefix}${p.kind}` };
  };
  return { snaps: snaps.map((s) => s.map(relabel)), cgroupKiB: cgroupUsageKiB(cgroupParent) };
}

/**
 * Until every environment is idle and frozen and the zygote pool holds the same ready zygotes for half a second:
 * nothing is starting, refilling or settling.
 */
async function settle(api: KilnApi, envs: number, budget: Budget): Promise<void> {
  let previous = '';
  for (;;) {
    const { Environments, Zygotes } = await api.listing();
    const idle = Environments.filter((e) => e.Frozen).length;
    const pool = Zygotes.map((z) => `${z.Id}:${z.State}`)
      .sort()
      .join(',');
    const still = Environments.length === envs && idle === envs && Zygotes.every((z) => z.State === 'ready');
    if (still && pool === previous) break;
    previous = still ? pool : '';
    if (budget.expired) {
      throw new Error(
        `environments did not settle: ${idle}/${Environments.length} frozen of ${envs} wanted, zygotes ` +
          `${Zygotes.map((z) => z.State).join(',') || 'none'}`,
      );
    }
    await sleep(still ? 500 : 50);
  }
  // Let Kiln's own after-work (log flushes, timers) finish before anything is read.
  await sleep(1000);
}

async function measure(
  label: string,
  zygotes: string | undefined,
  n: number,
  budget: Budget,
  ctx: ScenarioContext,
): Promise<Pass> {
  const env: Record<string, string> = {
    KILN_LOG_LEVEL: 'warn',
    KILN_WORKER_MEMORY_MB: String((n + 8) * 128 + 1024),
    ...(zygotes !== undefined ? { KILN_ZYGOTES_PER_RUNTIME: zygotes } : {}),
  };
  return withKiln(env, async (kiln, api) => {
    const pid = kiln.child.pid;
    if (pid === undefined) throw new Error('kiln up has no pid');
    const zip = (await nodeZip(noop)).toString('base64');
    const names = Array.from({ length: n }, (_, i) => `idle-${i}`);
    for (const fn of ['first', ...names]) {
      await api.createFunction({
        FunctionName: fn,
        Runtime: 'nodejs20.x',
        Role: role,
        Handler: 'index.handler',
        MemorySize: 128,
        Code: { ZipFile: zip },
      });
    }
    const client = new Client(kiln.port, 4);
    try {
      // One environment started and gone first, so code Kiln loads on its first cold start is not counted per
      // environment.
      checkInvoke(await invoke(client, 'first'), 'first');
      await api.deleteFunction('first');
      await api.waitGone('first');
      await settle(api, 0, budget);
      const zero = await take(api, pid, kiln.cgroupParent);
      ctx.progress(`${label}: measured with 0 environments; starting ${n}`);
      // Four at a time: quick, and no more cold starts at once than two cores take without timing out.
      const queue = [...names];
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let fn = queue.shift(); fn !== undefined; fn = queue.shift()) {
            checkInvoke(await invoke(client, fn), fn);
          }
        }),
      );
      await settle(api, n, budget);
      const full = await take(api, pid, kiln.cgroupParent);
      ctx.progress(`${label}: measured with ${n} idle environments`);
      return { label, n, zero, full };
    } finally {
      client.close();
    }
  });
}

function rowsOf(pass: Pass, rows: Row[], targets: Target[], samples: Record<string, number[]>): Breakdown {
  const { n, zero, full, label } = pass;
  const last = full.snaps[full.snaps.length - 1] ?? [];
  // The environments the N invocations created, as Kiln listed them (zygotes and unlisted sandboxes left out).
  const newEnvs = [
    ...new Set(
      last.flatMap((p) =>
        p.env !== undefined && !p.kind.startsWith(zygotePrefix) && !p.kind.startsWith(unlistedPrefix)
          ? [p.env]
          : [],
      ),
    ),
  ];
  const perEnv = (pick: (p: ProcessMemory) => boolean, f: 'pssKiB' | 'rssKiB'): number[] =>
    newEnvs.map((e) => mib(total(last, (p) => p.env === e && pick(p), f)));
  const growth = (pick: (p: ProcessMemory) => boolean, f: 'pssKiB' | 'rssKiB'): number[] =>
    full.snaps.map((s, i) => mib(total(s, pick, f) - total(zero.snaps[i] ?? [], pick, f)) / n);

  const runtimePss = summarize(perEnv((p) => p.kind === runtimeKind, 'pssKiB'));
  const runtimeRss = summarize(perEnv((p) => p.kind === runtimeKind, 'rssKiB'));
  const platformPss = summarize(growth(isPlatform, 'pssKiB'));
  const platformRss = summarize(growth(isPlatform, 'rssKiB'));
  const helpers = perEnv(isPlatform, 'pssKiB');
  const kilnGrowth = growth((p) => p.kind === 'Kiln (kiln up)', 'pssKiB');
  const cgroups = newEnvs.flatMap((e) => {
    const v = full.cgroupKiB.get(e);
    return v === undefined ? [] : [mib(v)];
  });
  const base = { series: `runtime process PSS per env${label}`, summary: runtimePss };
  const baseRss = { series: `runtime process RSS per env${label}`, summary: runtimeRss };
  rows.push(
    row(
      name,
      `runtime process (node) PSS per idle env${label}`,
      runtimePss,
      undefined,
      `${newEnvs.length} envs`,
      'MiB',
    ),
    row(name, `runtime process (node) RSS per idle env${label}`, runtimeRss, undefined, undefined, 'MiB'),
    row(
      name,
      `platform PSS per idle env, (at ${n} − at 0)/${n}${label}`,
      platformPss,
      base,
      `one sample per snapshot pair (${snapshots})`,
      'MiB',
    ),
    row(
      name,
      `platform RSS per idle env, (at ${n} − at 0)/${n}${label}`,
      platformRss,
      baseRss,
      undefined,
      'MiB',
    ),
    row(
      name,
      `per-env helper processes PSS (bwrap ×2, socat)${label}`,
      summarize(helpers),
      base,
      'summed per environment cgroup',
      'MiB',
    ),
    row(name, `Kiln process PSS growth per env${label}`, summarize(kilnGrowth), base, undefined, 'MiB'),
    row(
      name,
      `memory charged to an env's cgroup${label}`,
      summarize(cgroups),
      base,
      'runtime + helpers + page cache + kernel memory',
      'MiB',
    ),
  );
  targets.push({
    scenario: name,
    description: `platform memory per idle warm env at most ${targetMiB} MiB (PSS, beyond the runtime)${label}`,
    actual: `${platformPss.median.toFixed(2)} MiB PSS, ${platformRss.median.toFixed(2)} MiB RSS`,
    met: platformPss.median <= targetMiB,
  });
  const key = label.trim() || 'default';
  samples[`runtime pss ${key}`] = perEnv((p) => p.kind === runtimeKind, 'pssKiB');
  samples[`platform pss per env ${key}`] = growth(isPlatform, 'pssKiB');
  samples[`platform rss per env ${key}`] = growth(isPlatform, 'rssKiB');

  const kinds = [...new Set([...zero.snaps, ...full.snaps].flat().map((p) => p.kind))].sort();
  const med = (state: State, kind: string, f: 'pssKiB' | 'rssKiB'): number =>
    median(state.snaps.map((s) => mib(total(s, (p) => p.kind === kind, f))));
  const count = (state: State, kind: string): number =>
    (state.snaps[state.snaps.length - 1] ?? []).filter((p) => p.kind === kind).length;
  return {
    title: `memory by process kind${label}, MiB (medians of ${snapshots} snapshots; count at 0 / at ${n})`,
    columns: ['procs at 0', `procs at ${n}`, 'PSS at 0', `PSS at ${n}`, 'PSS per env', 'RSS per env'],
    parts: kinds.map((kind) => [
      kind,
      [
        count(zero, kind),
        count(full, kind),
        med(zero, kind, 'pssKiB'),
        med(full, kind, 'pssKiB'),
        (med(full, kind, 'pssKiB') - med(zero, kind, 'pssKiB')) / n,
        (med(full, kind, 'rssKiB') - med(zero, kind, 'rssKiB')) / n,
      ],
    ]),
  };
}

export async function memory(ctx: ScenarioContext): Promise<ScenarioResult> {
  const n = ctx.quick ? 12 : 32;
  const budget = new Budget(ctx.quick ? 60_000 : 150_000);
  const passes = [await measure(' (no zygotes)', '0', n, budget, ctx)];
  if (!budget.expired) passes.push(await measure(' (default zygote pool)', undefined, n, budget, ctx));
  const rows: Row[] = [];
  const targets: Target[] = [];
  const samples: Record<string, number[]> = {};
  const breakdowns = passes.map((p) => rowsOf(p, rows, targets, samples));
  const notes = [
    `${n} distinct no-op Node functions (128 MB), each invoked once and left idle (frozen); Kiln's first cold start ` +
      'happens before the measurement at 0, so code it loads once is not counted per environment.',
    "Platform = Kiln's own process + every process it keeps that is not the runtime (found through its process tree " +
      'and its sandbox cgroups). PSS splits shared pages between the processes sharing them: as runtimes are added, ' +
      "Kiln's share of the node binary's pages shrinks, which is why its growth can read low or negative.",
    'Ratio: against the runtime process (the node process running the function) of one environment, the memory a ' +
      'function costs anyway, sandboxed or not: 0.1x means the platform adds a tenth on top.',
  ];
  if (passes.length < 2) notes.push('the default zygote pool pass was skipped: time budget exhausted');
  return { name, rows, targets, breakdowns, notes, samples };
}
