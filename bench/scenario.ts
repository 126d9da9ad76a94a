// The contract between the runner and each scenario.
import type { ScenarioResult } from './lib/report.js';

export interface ScenarioContext {
  /** Fewer samples and shorter budgets: a smoke run of the whole suite in about a minute. */
  readonly quick: boolean;
  /** `--minutes`: how long a time-bounded scenario (soak) runs; undefined leaves it its own default. */
  readonly minutes: number | undefined;
  /** One line of progress on stderr, so a long scenario shows it is alive without cluttering the table. */
  progress(message: string): void;
}

export interface Scenario {
  readonly name: string;
  readonly summary: string;
  /** Runs only when named with --only, never in the default everything-run (it is long). */
  readonly optIn?: boolean;
  /** Time beyond the runner's usual watchdog that this scenario may take. */
  extraWatchdogMs?(ctx: Pick<ScenarioContext, 'quick' | 'minutes'>): number;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}
