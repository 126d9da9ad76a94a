// The soak's pass/fail criteria, each with the figures behind it.
import type { Target } from '../lib/report.js';
import type { Leftovers } from './leftovers.js';
import type { PlatformLog } from './platform-log.js';
import type { Reconciliation } from './reconcile.js';
import type { Sample } from './sampler.js';
import type { Tally } from './tally.js';
import { trend, type Trend } from './trend.js';

const scenario = 'soak';

/** Growth of the fitted line over the measured span that still counts as flat. */
export const tolerance = {
  rssMb: (first: number): number => Math.max(16, first * 0.1),
  fds: 3,
  platformProcesses: 0,
};

const gate = (description: string, actual: string, met: boolean): Target => ({
  scenario,
  description,
  actual,
  met,
  gate: true,
});

export function eventsTarget(r: Reconciliation, drained: boolean): Target {
  const c = (k: string): number => r.byCondition[k] ?? 0;
  const other = Object.entries(r.byCondition)
    .filter(([k]) => !['Success', 'RetriesExhausted', 'FunctionNotFound'].includes(k))
    .map(([k, v]) => `, ${v} ${k}`)
    .join('');
  return gate(
    'zero lost events: every accepted Event reaches its expected final outcome (and destination)',
    `${r.accepted} accepted = ${c('Success')} succeeded + ${c('RetriesExhausted')} failed to destination + ` +
      `${c('FunctionNotFound')} dropped as FunctionNotFound (deleted churn functions)${other}; ` +
      `${r.lost} lost, ${r.unfinished} unfinished, ${r.wrongOutcome} wrong outcome, ${r.missingRecords} ` +
      `missing and ${r.strayRecords} stray destination records (${r.recordsRead} read, ${r.duplicateRecords} ` +
      `duplicates), ${r.readErrors} read errors${drained ? '' : '; the queue did not drain in time'}`,
    drained &&
      r.lost + r.unfinished + r.wrongOutcome + r.missingRecords + r.strayRecords + r.readErrors === 0,
  );
}

export function platformTargets(tally: Tally, log: PlatformLog): Target[] {
  const calls = [...tally.latencies.values()].reduce((s, l) => s + l.length, 0);
  return [
    gate(
      'no platform errors: no 5xx or unanswered call, no error-level line in Kiln’s log',
      `${tally.platformErrors} of ${calls + tally.platformErrors + tally.unexpected} calls; ` +
        `${log.errors.length} error lines`,
      tally.platformErrors === 0 && log.errors.length === 0,
    ),
    gate(
      'every answer as expected: function errors only of the injected kind, fresh code after updates',
      `${tally.unexpected} unexpected answers`,
      tally.unexpected === 0,
    ),
  ];
}

/** Quiet readings after the first (warm-up), where everything had been reclaimed. */
export const comparable = (samples: readonly Sample[]): Sample[] =>
  samples.filter((s) => s.phase === 'quiet').slice(1);

export interface Flatness {
  readonly targets: Target[];
  readonly trends: Record<string, Trend>;
}

export function flatness(samples: readonly Sample[]): Flatness {
  const quiet = comparable(samples);
  const settled = quiet.filter((s) => s.settled === true);
  const enough = quiet.length >= 2 && settled.length === quiet.length;
  const why = enough
    ? ''
    : ` (${settled.length} of ${quiet.length} quiet points after warm-up reclaimed everything; need 2 and all)`;
  const of = (pick: (s: Sample) => number): Trend => trend(settled.map((s) => [s.t, pick(s)] as const));
  const rss = of((s) => s.rssMb);
  const fds = of((s) => s.fds);
  const procs = of((s) => s.platformProcesses);
  const sandboxLeft = Math.max(0, ...settled.map((s) => s.sandboxCgroups + s.sandboxProcesses));
  const span = `${quiet.length} quiet points, ${(((settled.at(-1)?.t ?? 0) - (settled[0]?.t ?? 0)) / 60).toFixed(1)} min`;
  const rssTol = tolerance.rssMb(rss.first);
  return {
    trends: { rssMb: rss, fds, platformProcesses: procs, heapUsedMb: of((s) => s.heapUsedMb) },
    targets: [
      gate(
        `Kiln RSS flat: fitted growth at most ${rssTol.toFixed(0)} MB (max of 16 MB and 10%)`,
        `${rss.first.toFixed(1)} → ${rss.last.toFixed(1)} MB, fitted ${rss.growth >= 0 ? '+' : ''}${rss.growth.toFixed(1)} MB ` +
          `(${rss.slopePerMin.toFixed(2)} MB/min) over ${span}${why}`,
        enough && rss.growth <= rssTol,
      ),
      gate(
        `Kiln open fds flat: fitted growth at most ${tolerance.fds}`,
        `${fds.first} → ${fds.last} (min ${fds.min}, max ${fds.max}), fitted ${fds.growth.toFixed(1)} over ${span}${why}`,
        enough && fds.growth <= tolerance.fds,
      ),
      gate(
        'processes flat: the same platform processes at every quiet point, no sandbox left',
        `platform processes ${procs.min}–${procs.max}; at most ${sandboxLeft} sandbox cgroups + processes left at a quiet point${why}`,
        enough && procs.max - procs.min <= tolerance.platformProcesses && sandboxLeft === 0,
      ),
    ],
  };
}

const listed = (l: Leftovers): string[] => [...l.processes, ...l.cgroups, ...l.mounts, ...l.dirs];

export function leftoversTarget(
  found: { atExit: Leftovers; after: Leftovers; graceMs: number },
  exitedOnTerm: boolean,
): Target {
  const left = found.after;
  const all = listed(left);
  const atExit = listed(found.atExit);
  const transient =
    atExit.length > all.length
      ? `; at Kiln's exit ${atExit.length} still there, gone within ${found.graceMs} ms (${atExit[0]})`
      : '';
  return gate(
    'nothing left after SIGTERM: no process, cgroup, mount or environment dir of the instance',
    `${exitedOnTerm ? 'exited on SIGTERM' : 'did NOT exit on SIGTERM in time (killed)'}; ${left.processes.length} processes, ` +
      `${left.cgroups.length} cgroups, ${left.mounts.length} mounts, ${left.dirs.length} dirs` +
      `${all.length > 0 ? `: ${all.slice(0, 3).join('; ')}` : ''}${transient}`,
    exitedOnTerm && all.length === 0,
  );
}
