// The contract between the runner and each scenario.
import type { ScenarioResult } from './lib/report.js';

export interface ScenarioContext {
  /** Fewer samples and shorter budgets: a smoke run of the whole suite in about a minute. */
  readonly quick: boolean;
  /** One line of progress on stderr, so a long scenario shows it is alive without cluttering the table. */
  progress(message: string): void;
}

export interface Scenario {
  readonly name: string;
  readonly summary: string;
  /** One-time setup before the run's watchdog starts (installing the peers from npm may take minutes once). */
  readonly prepare?: () => void;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}
