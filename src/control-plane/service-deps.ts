// What the function, version and alias services share.
import type { Account } from '../model/index.js';
import type { Clock, Logger } from '../shared/index.js';
import type { CodeStore, MetadataStore } from '../store/index.js';

export interface FunctionServiceDeps {
  readonly account: Account;
  readonly metadata: MetadataStore;
  readonly code: CodeStore;
  readonly clock: Clock;
  readonly log: Logger;
  /** Crash-test hook: called at named steps; production passes a no-op. */
  readonly failpoint: (name: string) => void;
  /**
   * Called after a change that makes environments stale: `$LATEST` changed (version `$LATEST`, its new
   * RevisionId kept), a version was deleted (that version), or the function was deleted (no version: all).
   */
  readonly onChange?: (functionName: string, version?: string, keepRevision?: string) => void;
  /** Called after an alias was updated or deleted (its provisioned concurrency follows it). */
  readonly onAliasChange?: (functionName: string, alias: string) => void;
}
