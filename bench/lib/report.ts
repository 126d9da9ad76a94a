// What a scenario hands back, and how the runner prints it.
import type { Summary } from './stats.js';

export interface Row {
  readonly scenario: string;
  readonly series: string;
  readonly unit: 'ms';
  readonly subject: Summary;
  readonly baseline?: { readonly series: string; readonly summary: Summary };
  /** subject median / baseline median: above 1 means slower than the baseline. */
  readonly ratio?: number;
  readonly note?: string;
}

export interface Target {
  readonly scenario: string;
  readonly description: string;
  readonly actual: string;
  readonly met: boolean;
  /** A pass/fail criterion rather than an aspiration: the run exits 1 when it is not met. */
  readonly gate?: boolean;
}

export interface Breakdown {
  readonly title: string;
  readonly columns: readonly string[];
  /** Label and one median (ms) per column; `undefined` where the run could not observe it. */
  readonly parts: readonly (readonly [string, readonly (number | undefined)[]])[];
}

export interface ScenarioResult {
  readonly name: string;
  readonly rows: Row[];
  readonly targets: Target[];
  readonly breakdowns: Breakdown[];
  readonly notes: string[];
  /** Raw samples per series, for whoever wants more than a median. */
  readonly samples: Record<string, number[]>;
  /** Anything else the scenario wants in the JSON file (time series, reconciliations). */
  readonly details?: Record<string, unknown>;
  readonly elapsedMs?: number;
}

export function row(
  scenario: string,
  series: string,
  subject: Summary,
  baseline?: { series: string; summary: Summary },
  note?: string,
): Row {
  return {
    scenario,
    series,
    unit: 'ms',
    subject,
    ...(baseline
      ? { baseline, ratio: baseline.summary.median > 0 ? subject.median / baseline.summary.median : NaN }
      : {}),
    ...(note !== undefined ? { note } : {}),
  };
}

const fmt = (v: number | undefined): string =>
  v === undefined || Number.isNaN(v) ? '-' : v >= 100 ? v.toFixed(1) : v.toFixed(3);

function table(header: string[], lines: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const render = (cells: string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [render(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(render)].join(
    '\n',
  );
}

export function renderRows(rows: readonly Row[]): string {
  return table(
    [
      'scenario',
      'series',
      'n',
      'median ms',
      'p99 ms',
      'baseline',
      'base median',
      'base p99',
      'ratio',
      'note',
    ],
    rows.map((r) => [
      r.scenario,
      r.series,
      String(r.subject.n),
      fmt(r.subject.median),
      fmt(r.subject.p99),
      r.baseline?.series ?? '',
      fmt(r.baseline?.summary.median),
      fmt(r.baseline?.summary.p99),
      r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`,
      r.note ?? '',
    ]),
  );
}

export function renderTargets(targets: readonly Target[]): string {
  return table(
    ['scenario', 'target', 'measured', 'met'],
    targets.map((t) => [
      t.scenario,
      t.description,
      t.actual,
      t.gate ? (t.met ? 'PASS' : 'FAIL') : t.met ? 'yes' : 'NO',
    ]),
  );
}

export function renderBreakdown(b: Breakdown): string {
  return table(
    [b.title, ...b.columns],
    b.parts.map(([label, values]) => [label, ...b.columns.map((_, i) => fmt(values[i]))]),
  );
}
