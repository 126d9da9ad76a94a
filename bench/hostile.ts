// hostile: a benign function's warm invoke latency while other functions attack the host's resources
// (CPU spin, fork bomb, memory bomb, /tmp filler, log flood), against the same function at rest in the
// same run. Kiln's isolation should keep the attacks in their own sandboxes; this shows what leaks through.
import { nodeMemoryHog, nodeZip } from '../test/support/functions.js';
import { nodeForkBomb, nodeLogFlood, nodeSpinner, nodeTmpFiller } from '../test/support/hostile-functions.js';
import { Client } from './lib/http.js';
import { checkInvoke, invoke, role, withKiln, type KilnApi } from './lib/kiln.js';
import { row, type ScenarioResult } from './lib/report.js';
import { summarize } from './lib/stats.js';
import type { ScenarioContext } from './scenario.js';

const name = 'hostile';

const attackers: ReadonlyArray<readonly [string, string, Record<string, unknown>, string]> = [
  ['spin-1', nodeSpinner, { MemorySize: 1769, Timeout: 8 }, '{}'],
  ['spin-2', nodeSpinner, { MemorySize: 1769, Timeout: 8 }, '{}'],
  ['forkbomb', nodeForkBomb, { Timeout: 20 }, '{}'],
  ['membomb', nodeMemoryHog, { MemorySize: 256, Timeout: 30 }, '{}'],
  ['tmpfill', nodeTmpFiller, { Timeout: 30 }, '{}'],
  ['logflood', nodeLogFlood, { Timeout: 30 }, '{"mb":64}'],
];

async function create(
  api: KilnApi,
  fn: string,
  source: string,
  extra: Record<string, unknown>,
): Promise<void> {
  await api.createFunction({
    FunctionName: fn,
    Runtime: 'nodejs20.x',
    Role: role,
    Handler: 'index.handler',
    Code: { ZipFile: (await nodeZip(source)).toString('base64') },
    ...extra,
  });
}

/** `count` sequential invokes of the benign function; their latencies in ms. */
async function sample(c: Client, count: number, until?: () => boolean): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count && (until === undefined || !until()); i++) {
    out.push(checkInvoke(await invoke(c, 'benign'), 'benign').ms);
  }
  return out;
}

export async function hostile(ctx: ScenarioContext): Promise<ScenarioResult> {
  const count = ctx.quick ? 200 : 1000;
  const started = performance.now();
  let rest: number[] = [];
  let attacked: number[] = [];
  const notes: string[] = [];
  await withKiln({ KILN_LOG_LEVEL: 'warn' }, async (kiln, api) => {
    await create(api, 'benign', 'exports.handler = async () => {};\n', { MemorySize: 1769 });
    for (const [fn, source, extra] of attackers) await create(api, fn, source, extra);
    const c = new Client(kiln.port, 1);
    const attackClient = new Client(kiln.port, attackers.length);
    try {
      await sample(c, 50); // warm-up: the benign environment exists and is hot
      ctx.progress('hostile: at rest');
      rest = await sample(c, count);
      ctx.progress('hostile: under attack');
      let finished = 0;
      const attacks = attackers.map(async ([fn, , , payload]) => {
        const r = await invoke(attackClient, fn, payload).catch((e: Error) => e);
        finished++;
        return `${fn}: ${r instanceof Error ? r.message : `${r.status}${r.headers['x-amz-function-error'] ? ' (function error)' : ''}`}`;
      });
      attacked = await sample(c, count, () => finished === attackers.length);
      notes.push(`attack outcomes: ${(await Promise.all(attacks)).join('; ')}`);
      notes.push(`${attacked.length} benign invokes while the attacks ran`);
    } finally {
      c.agent.destroy();
      attackClient.agent.destroy();
    }
  });
  const base = { series: 'benign at rest', summary: summarize(rest) };
  const under = summarize(attacked);
  return {
    name,
    rows: [
      row(
        name,
        'benign warm invoke under attack',
        under,
        base,
        `p99 ${(under.p99 / base.summary.p99).toFixed(2)}x the p99 at rest`,
      ),
    ],
    targets: [],
    breakdowns: [],
    notes,
    samples: { rest, attacked },
    elapsedMs: performance.now() - started,
  };
}
