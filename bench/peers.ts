// peers: the same no-op Node handler behind Kiln's Invoke API and behind the two platforms a Lambda developer would
// run locally instead (serverless-offline, lambda-local), warm, at concurrency 1, 8 and 64, against the raw Node
// HTTP echo floor warm-invoke uses. Kiln isolates every environment (sandbox, cgroup, one process each); the peers
// run every invocation inside their own Node process.
import { Budget, sleep } from './lib/budget.js';
import { Client, closedLoop, mergeLoops, perSecond, type LoopResult } from './lib/http.js';
import { checkInvoke, invoke, role, withKiln } from './lib/kiln.js';
import {
  peerTimeoutSeconds,
  serverlessOfflineMode,
  startLambdaLocal,
  startServerlessOffline,
  type PeerServer,
} from './lib/peers.js';
import { treeCpuMs } from './lib/proc.js';
import { startEchoServer } from './lib/processes.js';
import { row, type Breakdown, type Row, type ScenarioResult, type Target } from './lib/report.js';
import { summarize } from './lib/stats.js';
import { nodeZip } from '../test/support/functions.js';
import type { ScenarioContext } from './scenario.js';

const name = 'peers';
const payload = '{}';
const noop = 'exports.handler = async () => {};\n';
// c=64 first: it carries the target, and a loaded host may exhaust the budget before the end.
const concurrencies = [64, 8] as const;

/** A throughput loop of one subject, with the CPU time its process tree used meanwhile. */
type Measured = LoopResult & { readonly cpuMs: number };

interface Subject {
  readonly key: 'echo' | 'kiln' | 'sls' | 'local';
  readonly label: string;
  readonly port: number;
  /** The subject's main process: its CPU time, and its descendants', is what serving the requests cost. */
  readonly pid: number;
  readonly functionName: string;
}

/** One request of a subject on a given client; a failed invocation throws, so it never counts as a fast sample. */
async function hit(subject: Subject, client: Client): Promise<number> {
  return checkInvoke(await invoke(client, subject.functionName, payload), subject.label).ms;
}

export async function peers(ctx: ScenarioContext): Promise<ScenarioResult> {
  const q = ctx.quick;
  const c1Count = q ? 300 : 2000;
  const c1Warmup = q ? 100 : 300;
  const block = 10;
  const notes: string[] = [];

  const budget = new Budget(q ? 120_000 : 300_000);
  const servers: PeerServer[] = [];
  const echo = await startEchoServer();
  try {
    const sls = await startServerlessOffline(noop);
    servers.push(sls);
    const local = await startLambdaLocal(noop);
    servers.push(local);
    ctx.progress('serverless-offline and lambda-local listening');
    const c1 = new Map<Subject['key'], number[]>(keys.map((k) => [k, []]));
    const loops = new Map<number, Map<Subject['key'], Measured>>();
    let kilnEnvs = '';

    await withKiln(
      { KILN_LOG_LEVEL: 'warn', KILN_WORKER_MEMORY_MB: String(64 * 128 + 1024) },
      async (kiln, api) => {
        await api.createFunction({
          FunctionName: 'noop',
          Runtime: 'nodejs20.x',
          Role: role,
          Handler: 'index.handler',
          MemorySize: 128,
          Timeout: peerTimeoutSeconds,
          Code: { ZipFile: (await nodeZip(noop)).toString('base64') },
        });
        const subjects: Subject[] = [
          { key: 'echo', label: 'echo server', port: echo.port, pid: echo.pid, functionName: 'echo' },
          { key: 'kiln', label: 'Kiln', port: kiln.port, pid: kiln.child.pid ?? 0, functionName: 'noop' },
          { key: 'sls', label: 'serverless-offline', ...sls },
          { key: 'local', label: 'lambda-local', ...local },
        ];

        // Every subject is a Node process whose JIT takes thousands of requests to settle; Kiln also starts
        // its first environments here.
        for (const s of subjects) {
          const client = new Client(s.port, 8);
          const warm = await closedLoop(
            8,
            q ? 1000 : 2000,
            () => budget.expired,
            () => hit(s, client),
          );
          client.close();
          if (warm.errors > 0)
            notes.push(`${s.label}: ${warm.errors} errors while warming up (${warm.firstError ?? ''})`);
        }
        ctx.progress('warmed up');

        for (const concurrency of concurrencies) {
          if (budget.expired) {
            notes.push(`concurrency ${concurrency} skipped: time budget (${budget.ms / 1000} s) exhausted`);
            continue;
          }
          const total = concurrency === 8 ? (q ? 2000 : 8000) : q ? 3200 : 12_800;
          const chunks = q ? 2 : 4;
          const pools = subjects.map((s) => new Client(s.port, concurrency));
          try {
            const call = (i: number) => (): Promise<number> =>
              hit(subjects[i] as Subject, pools[i] as Client);
            const ids = async (): Promise<Set<string>> =>
              new Set((await api.environments()).filter((e) => e.FunctionName === 'noop').map((e) => e.Id));
            // Kiln runs one environment per concurrent request: ramp up so no more than half of them start at
            // once on two cores, then until every caller has one (a loaded host needs more rounds). The peers
            // get requests at full concurrency to warm up.
            for (let c = Math.min(16, concurrency); c <= concurrency; c *= 2) {
              await closedLoop(c, c * 4, () => budget.expired, call(1));
            }
            for (let round = 0; round < 5 && (await ids()).size < concurrency && !budget.expired; round++) {
              await closedLoop(concurrency, concurrency * 4, () => budget.expired, call(1));
            }
            for (const i of [0, 2, 3])
              await closedLoop(concurrency, concurrency * 20, () => budget.expired, call(i));
            const before = await ids();
            const parts = subjects.map((): LoopResult[] => []);
            const cpu = subjects.map(() => 0);
            const chunk = Math.ceil(total / chunks);
            for (let k = 0; k < chunks && !budget.expired; k++) {
              for (const [i, part] of parts.entries()) {
                const pid = (subjects[i] as Subject).pid;
                const cpuBefore = treeCpuMs(pid);
                part.push(await closedLoop(concurrency, chunk, () => budget.expired, call(i)));
                cpu[i] = (cpu[i] ?? 0) + treeCpuMs(pid) - cpuBefore;
              }
            }
            const after = await ids();
            loops.set(
              concurrency,
              new Map(
                subjects.map((s, i) => {
                  const merged = mergeLoops(parts[i] ?? []);
                  return [s.key, { ...merged, cpuMs: cpu[i] ?? NaN }];
                }),
              ),
            );
            const started = [...after].filter((id) => !before.has(id)).length;
            kilnEnvs += `c=${concurrency}: Kiln environments ${before.size}→${after.size}, ${started} started while measuring. `;
          } finally {
            for (const p of pools) p.close();
          }
          ctx.progress(`concurrency ${concurrency} done`);
        }

        // Concurrency 1: blocks of 10 per subject in turn, so drift hits all alike; the pause after a block lets
        // a subject's after-work (Kiln's next /next, timers) settle instead of landing on the next subject.
        const clients = subjects.map((s) => new Client(s.port, 1));
        const c1Errors = new Map<string, string[]>();
        try {
          for (let done = -c1Warmup; done < c1Count && !budget.expired; done += block) {
            for (const [i, s] of subjects.entries()) {
              const client = clients[i] as Client;
              for (let j = 0; j < block; j++) {
                try {
                  const ms = await hit(s, client);
                  if (done >= 0) c1.get(s.key)?.push(ms);
                } catch (err) {
                  c1Errors.set(s.label, [...(c1Errors.get(s.label) ?? []), (err as Error).message]);
                }
              }
              await sleep(1);
            }
          }
        } finally {
          for (const c of clients) c.close();
        }
        for (const [label, errors] of c1Errors) {
          notes.push(
            `${label}: ${errors.length} errors at c=1, left out of its samples (${errors[0] ?? ''})`,
          );
        }
        ctx.progress('concurrency 1 done');
      },
    );

    return report(c1, loops, notes, kilnEnvs.trim());
  } finally {
    for (const s of servers.reverse()) await s.stop();
    await echo.stop();
  }
}

const labels: Record<Subject['key'], string> = {
  echo: 'raw Node HTTP echo server',
  kiln: 'Kiln Invoke no-op 128 MB',
  sls: 'serverless-offline Invoke no-op',
  local: 'lambda-local execute() no-op',
};

const keys = Object.keys(labels) as Subject['key'][];

function report(
  c1: Map<Subject['key'], number[]>,
  loops: Map<number, Map<Subject['key'], Measured>>,
  notes: string[],
  kilnEnvs: string,
): ScenarioResult {
  const rows: Row[] = [];
  const targets: Target[] = [];
  const samples: Record<string, number[]> = {};

  const floor = { series: 'echo server, c=1', summary: summarize(c1.get('echo') ?? []) };
  // A subject the time budget cut off before its first sample gets no row.
  for (const k of keys) {
    samples[`${k} c1`] = c1.get(k) ?? [];
    if ((c1.get(k) ?? []).length === 0) continue;
    rows.push(row(name, `${labels[k]}, c=1`, summarize(c1.get(k) ?? []), k === 'echo' ? undefined : floor));
  }
  for (const concurrency of [...loops.keys()].sort((a, b) => a - b)) {
    const byKey = loops.get(concurrency);
    if (byKey === undefined) continue;
    const echo = byKey.get('echo');
    if (echo === undefined) continue;
    const base = { series: `echo server, c=${concurrency}`, summary: summarize(echo.latencies) };
    for (const k of keys) {
      const r = byKey.get(k);
      if (r === undefined || r.latencies.length === 0) continue;
      samples[`${k} c${concurrency}`] = r.latencies;
      const errors = r.errors > 0 ? `; ${r.errors} ERRORS (${r.firstError ?? ''})` : '';
      const share = k === 'echo' ? '' : ` (${((perSecond(r) / perSecond(echo)) * 100).toFixed(0)}% of echo)`;
      rows.push(
        row(
          name,
          `${labels[k]}, c=${concurrency}`,
          summarize(r.latencies),
          k === 'echo' ? undefined : base,
          `${perSecond(r).toFixed(0)} invokes/s${share}${errors}`,
        ),
      );
    }
  }

  const at64 = loops.get(64);
  const [kiln, sls, local] = (['kiln', 'sls', 'local'] as const).map((k) => {
    const r = at64?.get(k);
    return r === undefined || r.latencies.length === 0 ? NaN : perSecond(r);
  }) as [number, number, number];
  // A subject the time budget cut off has no figure: the comparison is then not made, rather than won.
  const complete = ![kiln, sls, local].some(Number.isNaN);
  targets.push({
    scenario: name,
    description: 'warm throughput at c=64 above both peers (same run)',
    actual: complete
      ? `Kiln ${kiln.toFixed(0)}/s, serverless-offline ${sls.toFixed(0)}/s, lambda-local ${local.toFixed(0)}/s`
      : 'not measured for every subject (time budget)',
    met: complete && kiln > sls && kiln > local,
  });

  const levels = [...loops.keys()].sort((a, b) => a - b);
  const at = (k: Subject['key'], f: (m: Measured) => number): (number | undefined)[] =>
    levels.map((c) => {
      const m = loops.get(c)?.get(k);
      return m === undefined || m.latencies.length === 0 ? undefined : f(m);
    });
  // CPU per invoke is the figure a busy shared host distorts least: at saturation, throughput is about the
  // cores available divided by it (plus the client's share).
  const breakdown: Breakdown = {
    title: 'warm throughput (closed loop, same run)',
    columns: [...levels.map((c) => `invokes/s c=${c}`), ...levels.map((c) => `CPU ms/invoke c=${c}`)],
    parts: keys.map((k) => [labels[k], [...at(k, perSecond), ...at(k, (m) => m.cpuMs / m.latencies.length)]]),
  };
  notes.push(
    `serverless v3 + serverless-offline 13 in its fastest mode: ${serverlessOfflineMode}; invoked through its ` +
      'Lambda Invoke endpoint (POST /2015-03-31/functions/{name}/invocations on its lambda port).',
    'lambda-local 2: its programmatic execute() with the module loaded once, behind a minimal node:http Invoke API ' +
      '(its own --watch server wraps the payload as an API Gateway event and answers 500 for a handler returning nothing).',
    'Neither peer isolates anything: every invocation runs inside its one Node process, sharing globals, /tmp and ' +
      'the environment. Kiln runs one sandboxed environment (bwrap, cgroups, its own runtime process) per concurrent request.',
    `Function timeout ${peerTimeoutSeconds} s on all three, so that a loaded host shows slow samples rather than ` +
      'killed environments.',
    'Client: node:http keep-alive (maxSockets = concurrency), payload {}; c=8/64 alternate the four subjects in chunks.',
    "CPU ms/invoke: user + system time of the subject's process tree (for Kiln: kiln up, every runtime, bwrap and " +
      'socat) during its throughput chunks, per completed invoke; the client is not counted.',
  );
  if (kilnEnvs) notes.push(kilnEnvs);
  return { name, rows, targets, breakdowns: [breakdown], notes, samples };
}
