// The storage ports. Backends live beside this file (sqlite/, files/); only src/app/ picks one.
import type { CodeRef, FunctionRecord } from '../model/index.js';

export interface ListPage<T> {
  readonly items: readonly T[];
  /** Opaque marker for the next page; absent on the last page. */
  readonly nextMarker?: string;
}

/** Function metadata. Every method is one transaction. */
export interface MetadataStore {
  get(name: string): FunctionRecord | undefined;
  /** Fails with ResourceConflictException if the name exists. */
  create(record: FunctionRecord): void;
  /**
   * Replaces a function's record if its current RevisionId equals `expectedRevisionId`;
   * returns false when it does not (the caller answers PreconditionFailed or NotFound).
   */
  replace(record: FunctionRecord, expectedRevisionId: string): boolean;
  /** Returns the deleted record, or undefined when absent. */
  delete(name: string): FunctionRecord | undefined;
  list(maxItems: number, marker?: string): ListPage<FunctionRecord>;
  /** Hex sha256 of every code package some record still points at. */
  referencedCode(): Set<string>;
  usage(): { functionCount: number; totalCodeSize: number };
  close(): void;
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
   * Checks the zip (structure, hostile entries, size caps), then stores it durably
   * (temp file, fsync, rename) before returning. Throws ApiError for a bad package.
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
   * callers share one extraction, and a failed extraction (package not stored, or breaking the rules `put`
   * enforces) throws and leaves nothing behind. The tree is read-only; files keep the zip's exec bits.
   */
  unpacked(sha256Hex: string): Promise<UnpackedCode>;
  /**
   * Removes stored packages not in `keep` and their unpacked trees, except trees still held through
   * `unpacked` (the next sweep after the last release takes them), and temp files and directories left by a
   * crash. Returns how many went.
   */
  collectGarbage(keep: ReadonlySet<string>): Promise<number>;
}
