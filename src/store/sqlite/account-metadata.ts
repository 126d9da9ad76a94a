// One account's view of metadata.db: today's single-account operations, each bound to the account.
import {
  ApiError,
  notFound,
  type AliasRecord,
  type EventInvokeConfigRecord,
  type FunctionRecord,
  type VersionRecord,
} from '../../model/index.js';
import type { AccountMetadata, ListPage, ProvisionedConcurrencyRecord } from '../ports.js';
import type { MetadataStatements } from './metadata-statements.js';

/** Records kept per account view; past this the cache starts over (a bound, not an eviction policy). */
const maxCachedRecords = 4096;

/** Cached records are shared by every reader: frozen, so a reader that modified one would throw, not corrupt it. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export class SqliteAccountMetadata implements AccountMetadata {
  /** Reserved concurrency by function and its sum, cached (see reservations()). */
  private reserved: { byName: Map<string, number>; total: number } | undefined;
  /**
   * Parsed `$LATEST` records by name, and published versions by name then number. Every Invoke reads its
   * function's record; a query and a JSON.parse per call were a measurable share of a warm Invoke. This view
   * is the only writer of its account's rows, and every write below drops what it changes.
   */
  private readonly latest = new Map<string, FunctionRecord>();
  private readonly versions = new Map<string, Map<string, VersionRecord>>();

  constructor(
    private readonly s: MetadataStatements,
    readonly accountId: string,
    private readonly arnOf: (name: string, qualifier?: string) => string,
  ) {}

  get(name: string): FunctionRecord | undefined {
    const cached = this.latest.get(name);
    if (cached !== undefined) return cached;
    const row = this.s.stmts.get.get(this.accountId, name);
    if (!row) return undefined;
    const record = deepFreeze(JSON.parse(row.record) as FunctionRecord);
    if (this.latest.size >= maxCachedRecords) this.latest.clear();
    this.latest.set(name, record);
    return record;
  }

  /** Drops a function's cached records: `$LATEST`, and its versions too when it is deleted. */
  private forget(name: string, versions = false): void {
    this.latest.delete(name);
    if (versions) this.versions.delete(name);
  }

  create(r: FunctionRecord): void {
    this.forget(r.config.name, true);
    try {
      this.s.stmts.insert.run(
        this.accountId,
        r.config.name,
        JSON.stringify(r),
        r.code.sha256Hex,
        r.code.size,
        r.revisionId,
      );
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new ApiError(
          'ResourceConflictException',
          `Function already exist: ${this.arnOf(r.config.name)}`,
        );
      }
      throw e;
    }
  }

  replace(r: FunctionRecord, expectedRevisionId: string): boolean {
    this.forget(r.config.name);
    const res = this.s.stmts.replace.run(
      JSON.stringify(r),
      r.code.sha256Hex,
      r.code.size,
      r.revisionId,
      this.accountId,
      r.config.name,
      expectedRevisionId,
    );
    return res.changes === 1;
  }

  delete(name: string): FunctionRecord | undefined {
    // Its reserved concurrency goes with it (ON DELETE CASCADE).
    this.reserved = undefined;
    this.forget(name, true);
    const row = this.s.stmts.delete.get(this.accountId, name);
    return row ? (JSON.parse(row.record) as FunctionRecord) : undefined;
  }

  list(maxItems: number, marker?: string): ListPage<FunctionRecord> {
    const after = marker === undefined ? '' : decodeMarker(marker);
    const rows = this.s.stmts.list.all(this.accountId, after, maxItems + 1);
    const page = rows.slice(0, maxItems);
    const last = page[page.length - 1];
    const items = page.map((row) => JSON.parse(row.record) as FunctionRecord);
    return rows.length > maxItems && last ? { items, nextMarker: encodeMarker(last.name) } : { items };
  }

  publishVersion(
    name: string,
    expectedRevisionId: string,
    make: (latest: FunctionRecord, version: string) => VersionRecord,
  ): VersionRecord | undefined {
    return this.s.publish(this.accountId, name, expectedRevisionId, make);
  }

  getVersion(name: string, version: string): VersionRecord | undefined {
    const cached = this.versions.get(name)?.get(version);
    if (cached !== undefined) return cached;
    const row = this.s.stmts.getVersion.get(this.accountId, name, Number(version));
    if (!row) return undefined;
    const record = deepFreeze(JSON.parse(row.record) as VersionRecord);
    if (this.versions.size >= maxCachedRecords) this.versions.clear();
    let byNumber = this.versions.get(name);
    if (byNumber === undefined) this.versions.set(name, (byNumber = new Map()));
    // Keyed by the qualifier as asked: "1" and "01" both name version 1, and both drop with the function.
    if (byNumber.size < maxCachedRecords) byNumber.set(version, record);
    return record;
  }

  newestVersion(name: string): VersionRecord | undefined {
    const row = this.s.stmts.newestVersion.get(this.accountId, name);
    return row ? (JSON.parse(row.record) as VersionRecord) : undefined;
  }

  listVersions(name: string, afterVersion: number, limit: number): VersionRecord[] {
    return this.s.stmts.listVersions
      .all(this.accountId, name, afterVersion, limit)
      .map((r) => JSON.parse(r.record) as VersionRecord);
  }

  deleteVersion(name: string, version: string): { deleted?: VersionRecord; referencedBy: string[] } {
    this.versions.delete(name);
    return this.s.deleteVersion(this.accountId, name, version);
  }

  getAlias(functionName: string, alias: string): AliasRecord | undefined {
    return this.s.aliases.get(this.accountId, functionName, alias);
  }

  createAlias(alias: AliasRecord): boolean {
    return this.s.aliases.create(this.accountId, alias);
  }

  replaceAlias(alias: AliasRecord, expectedRevisionId: string): boolean {
    return this.s.aliases.replace(this.accountId, alias, expectedRevisionId);
  }

  deleteAlias(functionName: string, alias: string): boolean {
    return this.s.deleteAlias(this.accountId, functionName, alias);
  }

  listAliases(
    functionName: string,
    afterName: string,
    limit: number,
    functionVersion?: string,
  ): AliasRecord[] {
    return this.s.aliases.list(this.accountId, functionName, afterName, limit, functionVersion);
  }

  getReservedConcurrency(name: string): number | undefined {
    return this.reservations().byName.get(name);
  }

  /**
   * Every invocation asks for its function's reservation and the account's total: they are read once and
   * kept until one of the two writes that change them (this view is the only writer of its account's rows).
   */
  private reservations(): { byName: Map<string, number>; total: number } {
    if (this.reserved === undefined) {
      const byName = new Map<string, number>();
      let total = 0;
      for (const row of this.s.stmts.allReserved.all(this.accountId)) {
        byName.set(row.name, row.reserved);
        total += row.reserved;
      }
      this.reserved = { byName, total };
    }
    return this.reserved;
  }

  setReservedConcurrency(name: string, value: number | undefined): void {
    this.reserved = undefined;
    if (value === undefined) {
      this.s.stmts.deleteReserved.run(this.accountId, name);
      return;
    }
    try {
      this.s.stmts.setReserved.run(this.accountId, name, value);
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
        throw notFound(`Function not found: ${this.arnOf(name)}`);
      }
      throw e;
    }
  }

  reservedConcurrencyTotal(): number {
    return this.reservations().total;
  }

  getProvisioned(name: string, qualifier: string): ProvisionedConcurrencyRecord | undefined {
    return this.s.provisioned.get(this.accountId, name, qualifier);
  }

  putProvisioned(record: ProvisionedConcurrencyRecord): boolean {
    return this.s.provisioned.put(this.accountId, record);
  }

  deleteProvisioned(name: string, qualifier: string): boolean {
    return this.s.provisioned.delete(this.accountId, name, qualifier);
  }

  listProvisioned(name?: string): ProvisionedConcurrencyRecord[] {
    return this.s.provisioned.list(this.accountId, name);
  }

  getEventInvokeConfig(name: string, qualifier: string): EventInvokeConfigRecord | undefined {
    return this.s.eventInvoke.get(this.accountId, name, qualifier);
  }

  putEventInvokeConfig(record: EventInvokeConfigRecord): boolean {
    return this.s.eventInvoke.put(this.accountId, record);
  }

  deleteEventInvokeConfig(name: string, qualifier: string): boolean {
    return this.s.eventInvoke.delete(this.accountId, name, qualifier);
  }

  listEventInvokeConfigs(name: string): EventInvokeConfigRecord[] {
    return this.s.eventInvoke.list(this.accountId, name);
  }

  usage(): { functionCount: number; totalCodeSize: number } {
    const a = this.accountId;
    const row = this.s.stmts.usage.get(a, a, a);
    return { functionCount: row?.n ?? 0, totalCodeSize: row?.total ?? 0 };
  }
}

// Markers are opaque to clients, as Lambda's are; inside they carry the last name returned.
const encodeMarker = (name: string): string => Buffer.from(`v1:${name}`).toString('base64url');

function decodeMarker(marker: string): string {
  const text = Buffer.from(marker, 'base64url').toString('utf8');
  if (!text.startsWith('v1:')) {
    throw new ApiError(
      'InvalidParameterValueException',
      'Invalid Marker: pass the NextMarker of a previous response.',
    );
  }
  return text.slice(3);
}
