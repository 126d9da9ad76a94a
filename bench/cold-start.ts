// cold-start: Invoke of a function whose environment does not exist yet, against bare process starts.
//
// Every Kiln sample is a function created just before it and deleted (environments gone) just after, so
// each sample really starts a new sandbox, nothing of it lingers to compete for the two cores, and its own
// code package is unpacked on the way (as for any function that never ran). One extra Node series shares
// one already-unpacked package, which isolates what unpacking costs.
import { bootstrapZip, nodeZip, pythonZip } from '../test/support/functions.js';
import type { KilnProcess } from '../test/support/server.js';
import { Budget } from './lib/budget.js';
import { checkInvoke, invoke, logTail, parseReport, role, withKiln, type KilnApi } from './lib/kiln.js';
import { minimalBwrap, timeSpawn } from './lib/processes.js';
import { row, type Breakdown, type Row, type ScenarioResult, type Target } from './lib/report.js';
import { median, summarize } from './lib/stats.js';
import type { ScenarioContext } from './scenario.js';

const name = 'cold-start';

// Each handler reports when its process started, when its module was loaded and when it was invoked, on the
// host's wall clock (no time namespace in the sandbox), so the bench can place them between request and answer.
const nodeSource = `const loaded = performance.timeOrigin + performance.now();
exports.handler = async () => ({
  hello: 'world',
  t: { processStart: performance.timeOrigin, loaded, invoked: performance.timeOrigin + performance.now() },
});
`;

const pythonSource = `import time
LOADED = time.time() * 1000.0

def handler(event, context):
    return {"hello": "world", "t": {"loaded": LOADED, "invoked": time.time() * 1000.0}}
`;

// test/support/functions.ts's bashBootstrap, cut to what a hello world needs: it ignores the event body and
// reads responses with builtins only, so the only forks are the relay's.
const bashSource = `#!/bin/bash
started=$EPOCHREALTIME
api=$AWS_LAMBDA_RUNTIME_API
host=\${api%:*}
port=\${api#*:}
while true; do
  exec 3<>"/dev/tcp/$host/$port"
  printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: %s\\r\\nConnection: close\\r\\n\\r\\n' "$api" >&3
  id=''
  while IFS= read -r line <&3; do
    line=\${line%$'\\r'}
    [ -z "$line" ] && break
    case "\${line,,}" in lambda-runtime-aws-request-id:*) id=\${line#*: } ;; esac
  done
  exec 3<&-
  body="{\\"hello\\":\\"world\\",\\"t\\":{\\"processStart\\":\\"$started\\",\\"invoked\\":\\"$EPOCHREALTIME\\"}}"
  exec 3<>"/dev/tcp/$host/$port"
  printf 'POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\\r\\nHost: %s\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s' "$id" "$api" "\${#body}" "$body" >&3
  while IFS= read -r _ <&3; do :; done
  exec 3<&-
done
`;

type Lang = 'node' | 'python' | 'bash';

const runtimes: Record<Lang, { runtime: string; handler: string; zip: (tag: string) => Promise<Buffer> }> = {
  node: {
    runtime: 'nodejs20.x',
    handler: 'index.handler',
    zip: (tag) => nodeZip(`${nodeSource}// ${tag}\n`),
  },
  python: {
    runtime: 'python3.11',
    handler: 'app.handler',
    zip: (tag) => pythonZip(`${pythonSource}# ${tag}\n`),
  },
  bash: {
    runtime: 'provided.al2023',
    handler: 'hello',
    zip: async (tag) => bootstrapZip(`${bashSource}# ${tag}\n`),
  },
};

const bare: Record<Lang, { label: string; argv: string[] }> = {
  node: { label: 'node -e 0', argv: ['/usr/bin/node', '-e', '0'] },
  python: { label: 'python3 -c pass', argv: ['/usr/bin/python3', '-c', 'pass'] },
  bash: { label: 'bash -c :', argv: ['/usr/bin/bash', '-c', ':'] },
};

interface KilnSeries {
  readonly key: string;
  readonly label: string;
  readonly lang: Lang;
  readonly memory: number;
  /** All functions of the series use one package, unpacked by the first (discarded) sample. */
  readonly shared: boolean;
  /** Runs on the Kiln instance with pre-initialised environments, each sample once one is ready. */
  readonly zygote?: boolean;
}

const kilnSeries: readonly KilnSeries[] = [
  { key: 'node-1769', label: 'Kiln nodejs20.x 1769 MB', lang: 'node', memory: 1769, shared: false },
  { key: 'node-128', label: 'Kiln nodejs20.x 128 MB', lang: 'node', memory: 128, shared: false },
  {
    key: 'node-1769-unpacked',
    label: 'Kiln nodejs20.x 1769 MB, package already unpacked',
    lang: 'node',
    memory: 1769,
    shared: true,
  },
  {
    key: 'node-1769-zygote',
    label: 'Kiln nodejs20.x 1769 MB, pre-initialised environment',
    lang: 'node',
    memory: 1769,
    shared: false,
    zygote: true,
  },
  {
    key: 'node-1769-zygote-unpacked',
    label: 'Kiln nodejs20.x 1769 MB, pre-initialised environment, package already unpacked',
    lang: 'node',
    memory: 1769,
    shared: true,
    zygote: true,
  },
  { key: 'python-1769', label: 'Kiln python3.11 1769 MB', lang: 'python', memory: 1769, shared: false },
  { key: 'python-128', label: 'Kiln python3.11 128 MB', lang: 'python', memory: 128, shared: false },
  {
    key: 'python-1769-zygote',
    label: 'Kiln python3.11 1769 MB, pre-initialised environment',
    lang: 'python',
    memory: 1769,
    shared: false,
    zygote: true,
  },
  {
    key: 'bash-1769',
    label: 'Kiln provided.al2023 (bash) 1769 MB',
    lang: 'bash',
    memory: 1769,
    shared: false,
  },
  { key: 'bash-128', label: 'Kiln provided.al2023 (bash) 128 MB', lang: 'bash', memory: 128, shared: false },
];

interface ColdSample {
  readonly totalMs: number;
  readonly initMs?: number;
  readonly durationMs?: number;
  readonly sandboxMs?: number;
  /** Stamps relative to the moment the Invoke request was issued. */
  readonly processStart?: number;
  readonly loaded?: number;
  readonly invoked?: number;
  readonly received: number;
  /** Kiln listed its environment as started from a pre-initialised one. */
  readonly prewarmed: boolean;
}

/** The handler's stamps: epoch ms as numbers (Node, Python) or bash's EPOCHREALTIME seconds as strings. */
function stamps(body: Buffer): { processStart?: number; loaded?: number; invoked?: number } {
  const t = (JSON.parse(body.toString('utf8')) as { t?: Record<string, number | string> }).t ?? {};
  const ms = (v: number | string | undefined): number | undefined =>
    v === undefined ? undefined : typeof v === 'number' ? v : Number(v.replace(',', '.')) * 1000;
  const out: { processStart?: number; loaded?: number; invoked?: number } = {};
  for (const k of ['processStart', 'loaded', 'invoked'] as const) {
    const v = ms(t[k]);
    if (v !== undefined && Number.isFinite(v)) out[k] = v;
  }
  return out;
}

/**
 * `sandbox started` debug lines Kiln logged since `from`: driver.create's own timing, in whole ms; for a
 * pre-initialised environment `sandbox specialised` (code mounted, limit set) instead, since the `sandbox
 * started` lines then come from the pool refilling itself.
 */
function sandboxStartMs(output: string, zygote: boolean): number | undefined {
  const marker = zygote ? '"sandbox specialised"' : '"sandbox started"';
  for (const line of output.split('\n')) {
    if (!line.includes(marker)) continue;
    try {
      const ms = (JSON.parse(line) as { ms?: number }).ms;
      if (typeof ms === 'number') return ms;
    } catch {
      // A partial line: the log is read as it streams.
    }
  }
  return undefined;
}

export async function coldStart(ctx: ScenarioContext): Promise<ScenarioResult> {
  const rounds = ctx.quick ? 4 : 40;
  const budget = new Budget(ctx.quick ? 30_000 : 150_000);
  const notes: string[] = [];
  const baseSamples = new Map<string, number[]>();
  const kilnSamples = new Map<string, ColdSample[]>(kilnSeries.map((s) => [s.key, []]));
  let sequence = 0;
  let roundsDone = 0;

  // Debug level for driver.create's `sandbox started` timing; a few lines per environment, logged asynchronously.
  const settings = { KILN_LOG_LEVEL: 'debug', KILN_WORKER_MEMORY_MB: '8192' };
  // Two instances: one without pre-initialised environments (every series but one: cold starts from nothing),
  // and one with them for the pre-initialised series. The idle one costs next to nothing.
  await withKiln({ ...settings, KILN_ZYGOTES_PER_RUNTIME: '0' }, (kiln, api) =>
    withKiln({ ...settings, KILN_ZYGOTES_PER_RUNTIME: '1' }, (zKiln, zApi) =>
      sampleAll(kiln, api, zKiln, zApi),
    ),
  );

  async function sampleAll(
    kiln0: KilnProcess,
    api0: KilnApi,
    zKiln: KilnProcess,
    zApi: KilnApi,
  ): Promise<void> {
    {
      const sharedZip = await runtimes.node.zip('shared package');
      // Keeps the shared package (and its unpacked tree) referenced while the sampled functions come and go.
      for (const api of [api0, zApi]) {
        await api.createFunction({
          FunctionName: 'cold-keeper',
          Runtime: 'nodejs20.x',
          Role: role,
          Handler: 'index.handler',
          Code: { ZipFile: sharedZip.toString('base64') },
        });
      }

      const baseline = async (lang: Lang, sandboxed: boolean, keep: boolean): Promise<void> => {
        const argv = bare[lang].argv;
        const cmd = sandboxed ? minimalBwrap(argv) : { file: argv[0] ?? '', args: argv.slice(1) };
        const ms = await timeSpawn(cmd.file, cmd.args);
        const key = `${lang}-${sandboxed ? 'bwrap' : 'bare'}`;
        if (keep) baseSamples.set(key, [...(baseSamples.get(key) ?? []), ms]);
      };

      const sample = async (s: KilnSeries, keep: boolean): Promise<void> => {
        const kiln = s.zygote === true ? zKiln : kiln0;
        const api = s.zygote === true ? zApi : api0;
        const rt = runtimes[s.lang];
        const fn = `cold-${s.key}-${++sequence}`;
        const zip = s.shared ? sharedZip : await rt.zip(fn);
        await api.createFunction({
          FunctionName: fn,
          Runtime: rt.runtime,
          Role: role,
          Handler: rt.handler,
          MemorySize: s.memory,
          Timeout: 30,
          Code: { ZipFile: zip.toString('base64') },
        });
        // Not timed: a pre-initialised sample starts once the pool has refilled.
        if (s.zygote === true && keep) await api.waitZygote(rt.runtime);
        const mark = kiln.output().length;
        const reply = checkInvoke(await invoke(api.client, fn, '{}', true), fn);
        const prewarmed = (await api.environments()).some(
          (e) => e.FunctionName === fn && e.Prewarmed === true,
        );
        await api.deleteFunction(fn);
        await api.waitGone(fn);
        if (!keep) return;
        const report = parseReport(logTail(reply));
        const t = stamps(reply.body);
        const rel = (v: number | undefined): number | undefined =>
          v === undefined ? undefined : v - reply.sentAt;
        const sandboxMs = sandboxStartMs(kiln.output().slice(mark), s.zygote === true);
        kilnSamples.get(s.key)?.push({
          totalMs: reply.ms,
          received: reply.receivedAt - reply.sentAt,
          prewarmed,
          ...(report?.initDurationMs !== undefined ? { initMs: report.initDurationMs } : {}),
          ...(report ? { durationMs: report.durationMs } : {}),
          ...(sandboxMs !== undefined ? { sandboxMs } : {}),
          ...(t.processStart !== undefined ? { processStart: rel(t.processStart) } : {}),
          ...(t.loaded !== undefined ? { loaded: rel(t.loaded) } : {}),
          ...(t.invoked !== undefined ? { invoked: rel(t.invoked) } : {}),
        });
      };

      const series = (key: string): KilnSeries => {
        const s = kilnSeries.find((k) => k.key === key);
        if (!s) throw new Error(`no series ${key}`);
        return s;
      };
      // Baselines and subjects alternate inside a round, and every round holds each series once, so drift
      // over the run hits all of them alike. Round 0 warms caches and Kiln's code paths and is discarded.
      const steps: ((keep: boolean) => Promise<void>)[] = [
        (k) => baseline('node', false, k),
        (k) => sample(series('node-1769'), k),
        (k) => baseline('node', true, k),
        (k) => sample(series('node-128'), k),
        (k) => baseline('node', false, k),
        (k) => sample(series('node-1769-unpacked'), k),
        (k) => baseline('node', false, k),
        (k) => sample(series('node-1769-zygote'), k),
        (k) => baseline('node', false, k),
        (k) => sample(series('node-1769-zygote-unpacked'), k),
        (k) => baseline('python', false, k),
        (k) => sample(series('python-1769'), k),
        (k) => baseline('python', true, k),
        (k) => sample(series('python-128'), k),
        (k) => baseline('python', false, k),
        (k) => sample(series('python-1769-zygote'), k),
        (k) => baseline('bash', false, k),
        (k) => sample(series('bash-1769'), k),
        (k) => baseline('bash', true, k),
        (k) => sample(series('bash-128'), k),
      ];
      for (let round = 0; round <= rounds; round++) {
        if (budget.expired) {
          notes.push(`stopped at the time budget (${budget.ms / 1000} s) after ${roundsDone} rounds`);
          break;
        }
        for (const step of steps) await step(round > 0);
        if (round > 0) roundsDone += 1;
        ctx.progress(`round ${round}/${rounds}`);
      }
    }
  }

  const rows: Row[] = [];
  const targets: Target[] = [];
  const samples: Record<string, number[]> = {};
  const baseRow = (
    lang: Lang,
    sandboxed: boolean,
  ): { series: string; summary: ReturnType<typeof summarize> } => {
    const key = `${lang}-${sandboxed ? 'bwrap' : 'bare'}`;
    const values = baseSamples.get(key) ?? [];
    samples[`baseline ${key}`] = values;
    return { series: `${bare[lang].label}${sandboxed ? ' in bwrap' : ''}`, summary: summarize(values) };
  };
  for (const lang of ['node', 'python', 'bash'] as const) {
    const plain = baseRow(lang, false);
    const boxed = baseRow(lang, true);
    rows.push(row(name, `${plain.series} (spawn→exit)`, plain.summary));
    rows.push(row(name, `${boxed.series} (spawn→exit)`, boxed.summary, plain));
    for (const s of kilnSeries.filter((k) => k.lang === lang)) {
      const list = kilnSamples.get(s.key) ?? [];
      const total = summarize(list.map((x) => x.totalMs));
      const inits = list.flatMap((x) => (x.initMs !== undefined ? [x.initMs] : []));
      const warm = list.length - inits.length;
      samples[s.key] = list.map((x) => x.totalMs);
      samples[`${s.key} init`] = inits;
      const vsBwrap = boxed.summary.median > 0 ? total.median / boxed.summary.median : NaN;
      const prewarmed = list.filter((x) => x.prewarmed).length;
      const check =
        (warm === 0 ? `cold ${list.length}/${list.length}` : `WARM SAMPLES: ${warm}/${list.length}`) +
        (s.zygote === true || prewarmed > 0 ? `; pre-initialised ${prewarmed}/${list.length}` : '');
      rows.push(
        row(name, `${s.label}: Invoke→response`, total, plain, `${vsBwrap.toFixed(2)}x bwrap; ${check}`),
      );
      rows.push(row(name, `${s.label}: Init Duration (REPORT)`, summarize(inits), plain));
      if (warm > 0) notes.push(`${s.label}: ${warm} samples had no Init Duration: not every sample was cold`);
    }
  }

  const nodeHeadline = rows.find((r) => r.series.startsWith('Kiln nodejs20.x 1769 MB: Invoke'));
  if (nodeHeadline?.ratio !== undefined) {
    targets.push({
      scenario: name,
      description: 'Node cold start (1769 MB) within 1.3x of bare `node -e 0`',
      actual: `${nodeHeadline.ratio.toFixed(2)}x (${nodeHeadline.subject.median.toFixed(1)} ms vs ${nodeHeadline.baseline?.summary.median.toFixed(1)} ms)`,
      met: nodeHeadline.ratio <= 1.3,
    });
  }

  const zygoteHeadline = rows.find((r) =>
    r.series.startsWith('Kiln nodejs20.x 1769 MB, pre-initialised environment: Invoke'),
  );
  if (zygoteHeadline !== undefined) {
    targets.push({
      scenario: name,
      description: 'Node cold start (1769 MB) with a pre-initialised environment: p50 within 10 ms',
      actual: `${zygoteHeadline.subject.median.toFixed(1)} ms`,
      met: zygoteHeadline.subject.median <= 10,
    });
  }

  const med = (list: ColdSample[], f: (x: ColdSample) => number | undefined): number | undefined => {
    const v = list.flatMap((x) => {
      const y = f(x);
      return y === undefined || !Number.isFinite(y) ? [] : [y];
    });
    return v.length > 0 ? median(v) : undefined;
  };
  const lists = kilnSeries.map((s) => kilnSamples.get(s.key) ?? []);
  const part = (
    label: string,
    f: (x: ColdSample) => number | undefined,
  ): [string, (number | undefined)[]] => [label, lists.map((l) => med(l, f))];
  const breakdown: Breakdown = {
    title: 'cold start, where the time goes (medians of per-sample differences)',
    columns: kilnSeries.map((s) => s.key),
    parts: [
      part('Invoke request → response (total)', (x) => x.totalMs),
      part('Init Duration (REPORT: env.start → first /next)', (x) => x.initMs),
      part('  sandbox create (driver.create; zygote: specialise; debug log)', (x) => x.sandboxMs),
      part('  runtime exec → first /next (Init − sandbox create)', (x) =>
        x.initMs !== undefined && x.sandboxMs !== undefined ? x.initMs - x.sandboxMs : undefined,
      ),
      part('Duration of the first invoke (REPORT)', (x) => x.durationMs),
      part('outside Init and Duration (HTTP, lookup, unpack, cgroup, logs)', (x) =>
        x.initMs !== undefined && x.durationMs !== undefined
          ? x.totalMs - x.initMs - x.durationMs
          : undefined,
      ),
      part('request sent → runtime process started (clock)', (x) => x.processStart),
      part('runtime process started → handler module loaded', (x) =>
        x.loaded !== undefined && x.processStart !== undefined ? x.loaded - x.processStart : undefined,
      ),
      part('request sent → handler module loaded', (x) => x.loaded),
      part('module loaded (bash: process started) → handler invoked', (x) =>
        x.invoked !== undefined ? x.invoked - (x.loaded ?? x.processStart ?? NaN) : undefined,
      ),
      part('handler invoked → response received', (x) =>
        x.invoked !== undefined ? x.received - x.invoked : undefined,
      ),
    ],
  };
  notes.push(
    'Kiln samples: CreateFunction with a package of its own, Invoke (timed, raw HTTP, LogType Tail), ' +
      'DeleteFunction, wait until its environment is gone; baselines: spawn→exit from this process, empty environment.',
    'Clock stamps come from the handler (performance.timeOrigin, time.time(), $EPOCHREALTIME) on the same host clock.',
  );
  return { name, rows, targets, breakdowns: [breakdown], notes, samples };
}
