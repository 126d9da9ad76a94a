// runtime-floor: what one warm invocation costs the runtime processes themselves, without a sandbox or Kiln's
// HTTP edge, when N environments take turns. Kiln's Node runtime client and the least a Runtime API client can
// do (fixed strings, one regular expression, answers null) each run as N unsandboxed node processes against N of
// Kiln's RuntimeApiServer in the bench process, driven with N invocations in flight. It shows how much of a warm
// invoke's CPU is the price of one process per environment on this host, whatever the client does.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeApiServer } from '../src/runtime-api/index.js';
import { silentLogger } from '../src/shared/index.js';
import { repoRoot } from '../test/support/server.js';
import { Budget } from './lib/budget.js';
import { onCleanup } from './lib/cleanup.js';
import { treeCpuMs } from './lib/proc.js';
import { row, type Row, type ScenarioResult } from './lib/report.js';
import { summarize } from './lib/stats.js';
import type { ScenarioContext } from './scenario.js';

const name = 'runtime-floor';

/** The least a client can do per invocation: no parsing beyond the request id, no context, no handler. */
const minimalClient = `'use strict';
const s = require('node:net').connect({ path: process.env.KILN_RUNTIME_API_SOCKET });
const NEXT = 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n';
let buf = '';
let waitingFor = 'next';
s.on('connect', () => s.write(NEXT));
s.on('data', (d) => {
  buf += d.toString('latin1');
  const end = buf.indexOf('\\r\\n\\r\\n');
  if (end < 0) return;
  const m = /content-length: *(\\d+)/i.exec(buf.slice(0, end));
  const len = m ? Number(m[1]) : 0;
  if (buf.length < end + 4 + len) return;
  const head = buf.slice(0, end);
  buf = buf.slice(end + 4 + len);
  if (waitingFor === 'next') {
    const id = /lambda-runtime-aws-request-id: *([^\\r]+)/i.exec(head)[1];
    waitingFor = 'accepted';
    s.write('POST /2018-06-01/runtime/invocation/' + id + '/response HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 4\\r\\n\\r\\nnull');
  } else {
    waitingFor = 'next';
    s.write(NEXT);
  }
});
`;

const silent = silentLogger();

interface Fleet {
  readonly envs: { readonly rapi: RuntimeApiServer; readonly child: ChildProcess; busy: boolean }[];
  stop(): Promise<void>;
}

async function startFleet(dir: string, client: string, n: number): Promise<Fleet> {
  const envs: Fleet['envs'] = [];
  const stop = async (): Promise<void> => {
    for (const e of envs) e.child.kill('SIGKILL');
    await Promise.all(envs.map((e) => e.rapi.close()));
  };
  const unregister = onCleanup(stop);
  try {
    for (let i = 0; i < n; i++) {
      const socketPath = join(dir, `rapi-${i}.sock`);
      const rapi = new RuntimeApiServer({ socketPath, log: silent });
      await rapi.listen();
      // A clean environment, as Kiln gives its runtimes (NODE_EXTRA_CA_CERTS alone costs every start ~70 ms).
      const child = spawn('/usr/bin/node', [client], {
        env: {
          PATH: '/usr/bin:/bin',
          KILN_RUNTIME_API_SOCKET: socketPath,
          LAMBDA_TASK_ROOT: dir,
          _HANDLER: 'index.handler',
          AWS_LAMBDA_FUNCTION_NAME: 'floor',
        },
        stdio: 'ignore',
      });
      envs.push({ rapi, child, busy: false });
      await rapi.waitReady();
    }
  } catch (err) {
    unregister();
    await stop();
    throw err;
  }
  return {
    envs,
    stop: async () => {
      unregister();
      await stop();
    },
  };
}

/** `count` invocations with `n` in flight, each to the most recently used idle environment (as Kiln picks). */
async function drive(
  fleet: Fleet,
  n: number,
  count: number,
): Promise<{ runtimeMs: number; serverMs: number }> {
  const cpu = (): number => fleet.envs.reduce((s, e) => s + treeCpuMs(e.child.pid ?? 0), 0);
  const order = [...fleet.envs];
  const payload = Buffer.from('{}');
  let issued = 0;
  const runtimeBefore = cpu();
  const serverBefore = process.cpuUsage();
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (issued < count) {
        issued += 1;
        // From the end, without a copy: this loop's own CPU is counted in the server side's figure.
        let env;
        for (let i = order.length - 1; i >= 0 && env === undefined; i--) if (!order[i]?.busy) env = order[i];
        if (env === undefined) throw new Error('runtime-floor: no idle environment');
        env.busy = true;
        await env.rapi.invoke({
          requestId: `floor-${issued}`,
          payload,
          deadlineMs: Date.now() + 30_000,
          invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:floor',
          traceId: 'Root=1-5e1b4151-5ac6c58f5d8c4b1c8bb2f5e7;Parent=53995c3f42cd8ad8;Sampled=0',
        });
        env.busy = false;
        order.splice(order.indexOf(env), 1);
        order.push(env);
      }
    }),
  );
  const server = process.cpuUsage(serverBefore);
  return {
    runtimeMs: (cpu() - runtimeBefore) / count,
    serverMs: (server.user + server.system) / 1000 / count,
  };
}

export async function runtimeFloor(ctx: ScenarioContext): Promise<ScenarioResult> {
  const budget = new Budget(ctx.quick ? 60_000 : 180_000);
  const chunks = ctx.quick ? 3 : 6;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-floor-'));
  writeFileSync(join(dir, 'index.js'), 'exports.handler = async () => {};\n');
  writeFileSync(join(dir, 'minimal.cjs'), minimalClient);
  const clients = [
    {
      key: 'kiln',
      label: "Kiln's Node runtime client",
      file: join(repoRoot, 'src/runtimes/nodejs/bootstrap.cjs'),
    },
    { key: 'minimal', label: 'minimal Runtime API client', file: join(dir, 'minimal.cjs') },
  ] as const;
  const samples: Record<string, number[]> = {};
  const rows: Row[] = [];
  const notes: string[] = [];
  try {
    for (const n of [1, 8, 64]) {
      if (budget.expired) {
        notes.push(`${n} environments skipped: time budget (${budget.ms / 1000} s) exhausted`);
        continue;
      }
      const fleets = [];
      for (const c of clients) fleets.push(await startFleet(dir, c.file, n));
      try {
        const count = Math.max(n * 40, ctx.quick ? 1500 : 3000);
        // Warm-up: Node's JIT needs thousands of calls before a process's path settles.
        for (const f of fleets) await drive(f, n, count);
        // Interleaved chunks, so drift on this shared host hits both clients alike.
        for (let k = 0; k < chunks && !budget.expired; k++) {
          for (const [i, f] of fleets.entries()) {
            const m = await drive(f, n, count);
            const key = clients[i]?.key ?? '';
            (samples[`${key}-${n}-runtime`] ??= []).push(m.runtimeMs);
            (samples[`${key}-${n}-server`] ??= []).push(m.serverMs);
          }
        }
      } finally {
        for (const f of fleets) await f.stop();
      }
      const s = (key: string): ReturnType<typeof summarize> => summarize(samples[key] ?? []);
      const minimal = { series: `minimal client, ${n} env`, summary: s(`minimal-${n}-runtime`) };
      rows.push(
        row(name, `minimal Runtime API client, ${n} environments: runtime CPU ms/invoke`, minimal.summary),
        row(
          name,
          `Kiln's Node runtime client, ${n} environments: runtime CPU ms/invoke`,
          s(`kiln-${n}-runtime`),
          minimal,
          `server side (RuntimeApiServer, bench process) ${s(`kiln-${n}-server`).median.toFixed(3)} ms/invoke; with the minimal client ${s(`minimal-${n}-server`).median.toFixed(3)}`,
        ),
      );
      ctx.progress(`${n} environments done`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  notes.push(
    'No sandbox, no cgroup, no Kiln HTTP edge: runtime processes (plain node, clean environment) against RuntimeApiServer instances in the bench process, N invocations in flight, each to the most recently used idle environment. CPU is user + system time from /proc per completed invocation, medians of interleaved chunks after a warm-up.',
    'Compare the 64-environment rows with the peers scenario\'s "CPU ms/invoke c=64": a platform that runs one process per environment pays at least the minimal client\'s runtime CPU plus the server side on every invoke.',
  );
  return { name, rows, targets: [], breakdowns: [], notes, samples };
}
