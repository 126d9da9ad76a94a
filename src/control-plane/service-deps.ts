// What the function, version and alias services of one account share.
import type { Account } from '../model/index.js';
import type { Clock, Logger } from '../shared/index.js';
import type { AccountMetadata, CodeStore } from '../store/index.js';
import type { CodeCollector } from './code-collector.js';

export interface FunctionServiceDeps {
  /** The account whose functions these are (every ARN names it). */
  readonly account: Account;
  /** That account's metadata: nothing of another account is reachable through it. */
  readonly metadata: AccountMetadata;
  readonly code: CodeStore;
  /** Shared by every account's services: code is garbage only when no account references it. */
  readonly garbage: CodeCollector;
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
