// The storage ports. Backends live beside this file (sqlite/, files/); only src/app/ picks one.
import type {
  AliasRecord,
  CodeRef,
  EventInvokeConfigRecord,
  FunctionRecord,
  VersionRecord,
} from '../model/index.js';

export interface ListPage<T> {
  readonly items: readonly T[];
  /** Opaque marker for the next page; absent on the last page. */
  readonly nextMarker?: string;
}

/** A provisioned concurrency configuration of one version or alias. */
export interface ProvisionedConcurrencyRecord {
  readonly functionName: string;
  /** A version number or an alias name, never `$LATEST`. */
  readonly qualifier: string;
  readonly requested: number;
  /** Epoch milliseconds of the last Put. */
  readonly lastModified: number;
}

/**
 * Function metadata, per account: everything (functions, versions, aliases, concurrency, event invoke
 * configs) belongs to one account, and the same name may exist in several. Services get the view of the
 * caller's account and cannot reach another's.
 */
export interface MetadataStore {
  /** The metadata of one account, with every method scoped to it. */
  account(accountId: string): AccountMetadata;
  /** Provisioned concurrency configurations of every account, at startup. */
  allProvisioned(): (ProvisionedConcurrencyRecord & { readonly accountId: string })[];
  /** Hex sha256 of every code package some record (`$LATEST` or a version) of any account points at. */
  referencedCode(): Set<string>;
  close(): void;
}

/** One account's function metadata. Every method is one transaction. */
export interface AccountMetadata {
  readonly accountId: string;
  get(name: string): FunctionRecord | undefined;
  /** Fails with ResourceConflictException if the name exists. */
  create(record: FunctionRecord): void;
  /**
   * Replaces a function's record if its current RevisionId equals `expectedRevisionId`;
   * returns false when it does not (the caller answers PreconditionFailed or NotFound).
   */
  replace(record: FunctionRecord, expectedRevisionId: string): boolean;
  /**
   * Deletes the function with its versions, aliases, concurrency, provisioned concurrency and event invoke
   * configs; returns the record, or undefined when absent.
   */
  delete(name: string): FunctionRecord | undefined;
  list(maxItems: number, marker?: string): ListPage<FunctionRecord>;
  /**
   * Publishes `$LATEST` as the next version number (numbers are never reused, even after a version is
   * deleted), if its RevisionId still equals `expectedRevisionId`; `make` builds the snapshot from the
   * record and the number. Returns undefined when the function is gone or its RevisionId moved on.
   */
  publishVersion(
    name: string,
    expectedRevisionId: string,
    make: (latest: FunctionRecord, version: string) => VersionRecord,
  ): VersionRecord | undefined;
  getVersion(name: string, version: string): VersionRecord | undefined;
  /** The highest-numbered version still present. */
  newestVersion(name: string): VersionRecord | undefined;
  /** Versions in ascending number after `afterVersion` (0 for the first page). */
  listVersions(name: string, afterVersion: number, limit: number): VersionRecord[];
  /**
   * Deletes one version (and its provisioned concurrency and event invoke config) unless an alias routes to it: then nothing
   * changes and the aliases' names come back.
   */
  deleteVersion(name: string, version: string): { deleted?: VersionRecord; referencedBy: string[] };
  getAlias(functionName: string, alias: string): AliasRecord | undefined;
  /** Fails with ResourceConflictException if the alias exists; false when the function is gone. */
  createAlias(alias: AliasRecord): boolean;
  /** Replaces an alias if its RevisionId equals `expectedRevisionId`. */
  replaceAlias(alias: AliasRecord, expectedRevisionId: string): boolean;
  /** Deletes an alias with its provisioned concurrency and event invoke config. */
  deleteAlias(functionName: string, alias: string): boolean;
  /** Aliases by name after `afterName`, optionally only those routing to `functionVersion`. */
  listAliases(
    functionName: string,
    afterName: string,
    limit: number,
    functionVersion?: string,
  ): AliasRecord[];
  /** Reserved concurrency of a function; undefined when none is reserved. */
  getReservedConcurrency(name: string): number | undefined;
  /** Sets (or with undefined, removes) a function's reserved concurrency. */
  setReservedConcurrency(name: string, value: number | undefined): void;
  /** Sum of the account's reserved concurrency. */
  reservedConcurrencyTotal(): number;
  getProvisioned(name: string, qualifier: string): ProvisionedConcurrencyRecord | undefined;
  /** Creates or replaces a configuration; false when the function is gone. */
  putProvisioned(record: ProvisionedConcurrencyRecord): boolean;
  deleteProvisioned(name: string, qualifier: string): boolean;
  /** One function's configurations by qualifier, or (no name) those of every function of the account. */
  listProvisioned(name?: string): ProvisionedConcurrencyRecord[];
  /** The asynchronous invocation settings of `$LATEST`, a version number or an alias name. */
  getEventInvokeConfig(name: string, qualifier: string): EventInvokeConfigRecord | undefined;
  /**
   * Creates or replaces (all settings at once) a configuration; false when the function is gone, or the
   * version or alias its qualifier names.
   */
  putEventInvokeConfig(record: EventInvokeConfigRecord): boolean;
  /** False when there was no such configuration. */
  deleteEventInvokeConfig(name: string, qualifier: string): boolean;
  /** One function's configurations: `$LATEST`, then versions by number, then aliases by name. */
  listEventInvokeConfigs(name: string): EventInvokeConfigRecord[];
  /** The account's function count and code size. */
  usage(): { functionCount: number; totalCodeSize: number };
}

/** A stored package unpacked for execution, held (kept from garbage collection) until released. */
export interface UnpackedCode {
  /** Directory holding the package's files, extracted once and shared read-only by every environment of that code. */
  readonly dir: string;
  /** Ends this hold; later calls do nothing. Leaving a hold unreleased only keeps the tree on disk. */
  release(): void;
}

/** Content-addressed deployment packages (zips), keyed by hex sha256. */
export interface CodeStore {
  /**
   * Checks the zip (structure, hostile entries, size caps), then stores it durably (temp file, fsync, rename)
   * and unpacks it for execution alongside: when it returns, the tree `unpacked` hands out is in place or its
   * extraction is still running (an implementation may let a few finish after the put), which `unpacked`
   * joins. A failed extraction does not fail the put (`unpacked` tries again and reports it). Throws ApiError
   * for a bad package.
   */
  put(zip: Buffer): Promise<CodeRef>;
  /** The same checks as `put`, storing nothing (UpdateFunctionCode with DryRun). */
  inspect(zip: Buffer): Promise<CodeRef>;
  has(sha256Hex: string): boolean;
  /** Absolute path of a stored zip, for streaming it back out. */
  pathOf(sha256Hex: string): string;
  /**
   * Unpacks a stored package and holds the tree: `dir` stays on disk, whatever the garbage collector is
   * told, until `release()`. Each call is one hold (a count per sha, not a lock): take one per execution
   * environment for as long as it runs from `dir`. The tree is extracted once and then reused, concurrent
   * callers share one extraction (a `put`'s included), and a failed extraction (package not stored, or
   * breaking the rules `put` enforces) throws and leaves nothing behind. The tree is read-only; files keep
   * the zip's exec bits.
   */
  unpacked(sha256Hex: string): Promise<UnpackedCode>;
  /**
   * Removes stored packages not in `keep` and their unpacked trees, except trees still held through
   * `unpacked` (the next sweep after the last release takes them), and temp files and directories left by a
   * crash. Returns how many went.
   */
  collectGarbage(keep: ReadonlySet<string>): Promise<number>;
}
