// `kiln async …`: the async event queue as an operator sees it.
import type { Command } from 'commander';
import type { KilnApi } from '../client/index.js';
import { formatTable } from './format.js';

export function registerAsyncCommands(
  program: Command,
  run: (action: (api: KilnApi) => Promise<void>) => Promise<void>,
  print: (line: string) => unknown,
): void {
  const cmd = program.command('async').description('the queue of asynchronous (Event) invocations');
  cmd
    .command('status')
    .description('queue depth, events in flight, oldest event age and drops, per function')
    .option('--json', 'print the raw answer as JSON')
    .action(async (opts: { json?: boolean }) => {
      await run(async (api) => {
        const q = await api.asyncQueue();
        if (opts.json) return void print(JSON.stringify(q, null, 2));
        print(
          `queued ${q.Depth} (in flight ${q.InFlight}), oldest ${q.OldestEventAgeSeconds} s${q.PollersPaused ? ', pollers PAUSED' : ''}`,
        );
        const drops = Object.entries(q.Dropped);
        print(`dropped: ${drops.length === 0 ? 'none' : drops.map(([k, v]) => `${k} ${v}`).join(', ')}`);
        if (q.Functions.length > 0) {
          print(
            formatTable(
              ['ACCOUNT', 'FUNCTION', 'QUEUED', 'IN FLIGHT', 'OLDEST'],
              q.Functions.map((f) => [
                f.AccountId,
                f.FunctionName,
                String(f.Depth),
                String(f.InFlight),
                `${f.OldestEventAgeSeconds} s`,
              ]),
            ),
          );
        }
      });
    });
  cmd
    .command('event')
    .description('what happened to one event (by the request id its 202 carried), as JSON')
    .argument('<request-id>')
    .action(async (id: string) => {
      await run(async (api) => void print(JSON.stringify(await api.asyncEvent(id), null, 2)));
    });
  cmd
    .command('events')
    .description("a function's most recently finished events, newest first, as JSON")
    .argument('<function>')
    .option('--max <n>', 'how many', '20')
    .option('--account <id>', "the function's account (default: the account of your key)")
    .action(async (fn: string, opts: { max: string; account?: string }) => {
      await run(
        async (api) =>
          void print(JSON.stringify(await api.recentEvents(fn, Number(opts.max), opts.account), null, 2)),
      );
    });
  for (const [name, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    cmd
      .command(name)
      .description(
        paused ? 'stop leasing events (those running finish); events keep queueing' : 'lease events again',
      )
      .action(async () => {
        await run(async (api) => {
          await api.setPollersPaused(paused);
          print(paused ? 'pollers paused' : 'pollers resumed');
        });
      });
  }
}
