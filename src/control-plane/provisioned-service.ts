// Provisioned concurrency: Put/Get/Delete/ListProvisionedConcurrencyConfigs with Lambda's rules, and
// handing each configuration to the platform, which initialises environments ahead of traffic.
import {
  ApiError,
  aliasNotFound,
  classifyQualifier,
  functionArn,
  invalidParameter,
  limits,
  notFound,
  parseFunctionName,
  requireAtLeast,
  resolveQualifier,
  validationError,
  type Account,
  type VersionRecord,
} from '../model/index.js';
import type { Clock, Logger } from '../shared/index.js';
import type { AccountMetadata, ProvisionedConcurrencyRecord } from '../store/index.js';
import { decodeMarker, encodeMarker } from './paging.js';
import { provisionedView, type ProvisionedConfigView, type ProvisionedProgress } from './provisioned-view.js';

/** The platform side: keeps environments of a version initialised for one configuration. */
export interface ProvisionedCapacity {
  /** Keeps `count` environments of `target` for `functionName:qualifier`; no target or 0 releases them. */
  apply(functionName: string, qualifier: string, target: VersionRecord | undefined, count: number): void;
  progress(functionName: string, qualifier: string): ProvisionedProgress | undefined;
}

export interface ProvisionedServiceDeps {
  readonly account: Account;
  readonly metadata: AccountMetadata;
  readonly clock: Clock;
  readonly log: Logger;
  readonly accountLimit: number;
  readonly capacity: ProvisionedCapacity;
}

const maxListItems = 50;

export class ProvisionedService {
  constructor(private readonly d: ProvisionedServiceDeps) {}

  put(rawName: string, rawQualifier: string | undefined, value: number | undefined): ProvisionedConfigView {
    const requested = requireAtLeast('provisionedConcurrentExecutions', value, 1);
    const { name, qualifier } = this.target(rawName, rawQualifier);
    const version = this.publishedTarget(name, qualifier);
    this.checkFits(name, qualifier, requested);
    const rec = { functionName: name, qualifier, requested, lastModified: this.d.clock.now() };
    if (!this.d.metadata.putProvisioned(rec)) throw this.missing(name);
    this.d.capacity.apply(name, qualifier, version, requested);
    this.d.log.info({ function: name, qualifier, requested }, 'provisioned concurrency configured');
    return this.view(rec);
  }

  get(rawName: string, rawQualifier: string | undefined): ProvisionedConfigView {
    const { name, qualifier } = this.target(rawName, rawQualifier);
    const rec = this.d.metadata.getProvisioned(name, qualifier);
    if (!rec) {
      throw new ApiError(
        'ProvisionedConcurrencyConfigNotFoundException',
        'No Provisioned Concurrency Config found for this function',
      );
    }
    return this.view(rec);
  }

  /** Lambda answers 204 whether or not a configuration existed, as long as the function does. */
  delete(rawName: string, rawQualifier: string | undefined): void {
    const { name, qualifier } = this.target(rawName, rawQualifier);
    if (this.d.metadata.deleteProvisioned(name, qualifier)) {
      this.d.capacity.apply(name, qualifier, undefined, 0);
      this.d.log.info({ function: name, qualifier }, 'provisioned concurrency removed');
    }
  }

  list(
    rawName: string,
    maxItems: number | undefined,
    marker: string | undefined,
  ): { items: (ProvisionedConfigView & { FunctionArn: string })[]; nextMarker?: string } {
    const name = this.functionName(parseFunctionName(rawName, this.d.account).name);
    const after = decodeMarker('provisioned', marker) ?? '';
    const n = Math.min(maxItems ?? maxListItems, maxListItems);
    const all = this.d.metadata.listProvisioned(name).filter((r) => r.qualifier > after);
    const page = all.slice(0, n);
    const items = page.map((r) => ({
      FunctionArn: functionArn(this.d.account, name, r.qualifier),
      ...this.view(r),
    }));
    const last = page[page.length - 1];
    return all.length > n && last
      ? { items, nextMarker: encodeMarker('provisioned', last.qualifier) }
      : { items };
  }

  /**
   * Hands one stored configuration (again) to the platform: after a restart (the composition root walks
   * every account's), or when its alias moved.
   */
  reapply(name: string, qualifier: string): void {
    const rec = this.d.metadata.getProvisioned(name, qualifier);
    const version = rec ? this.currentVersion(name, qualifier) : undefined;
    this.d.capacity.apply(name, qualifier, version, version && rec ? rec.requested : 0);
  }

  private view(rec: ProvisionedConcurrencyRecord): ProvisionedConfigView {
    return provisionedView(rec, this.d.capacity.progress(rec.functionName, rec.qualifier));
  }

  private target(rawName: string, rawQualifier: string | undefined): { name: string; qualifier: string } {
    const ref = resolveQualifier(parseFunctionName(rawName, this.d.account), rawQualifier);
    if (ref.qualifier === undefined || ref.qualifier === '') {
      throw validationError('qualifier', undefined, 'Member must not be null');
    }
    const name = this.functionName(ref.name);
    const q = classifyQualifier(ref.qualifier);
    return { name, qualifier: q.kind === 'version' ? q.version : ref.qualifier };
  }

  private functionName(name: string): string {
    if (!this.d.metadata.get(name)) throw this.missing(name);
    return name;
  }

  /** The published version a Put applies to: never `$LATEST`, never an alias with weights. */
  private publishedTarget(name: string, qualifier: string): VersionRecord {
    const q = classifyQualifier(qualifier);
    if (q.kind === 'latest') {
      throw invalidParameter(
        'Provisioned Concurrency Configs cannot be applied to unpublished function versions.',
      );
    }
    if (q.kind === 'alias') {
      const alias = this.d.metadata.getAlias(name, q.name);
      if (!alias) throw aliasNotFound(this.d.account, name, q.name);
      if (Object.keys(alias.weights).length > 0) {
        throw invalidParameter('Alias with weights can not be used with Provisioned Concurrency');
      }
      if (alias.functionVersion === '$LATEST') {
        throw invalidParameter(
          'Provisioned Concurrency Configs cannot be applied to unpublished function versions.',
        );
      }
    }
    const version = this.currentVersion(name, qualifier);
    if (!version) throw notFound(`Function not found: ${functionArn(this.d.account, name, qualifier)}`);
    return version;
  }

  /** The version a qualifier names now (an alias: its primary version). */
  private currentVersion(name: string, qualifier: string): VersionRecord | undefined {
    const q = classifyQualifier(qualifier);
    if (q.kind === 'latest') return undefined;
    const version =
      q.kind === 'version' ? q.version : this.d.metadata.getAlias(name, q.name)?.functionVersion;
    return version === undefined || version === '$LATEST'
      ? undefined
      : this.d.metadata.getVersion(name, version);
  }

  /**
   * Provisioned concurrency comes out of the function's reserved concurrency when it has one, otherwise out
   * of the account's unreserved pool, which keeps at least 100 as Lambda does. Each account has its own.
   */
  private checkFits(name: string, qualifier: string, value: number): void {
    const others = (recs: ProvisionedConcurrencyRecord[]): number =>
      recs
        .filter((r) => !(r.functionName === name && r.qualifier === qualifier))
        .reduce((sum, r) => sum + r.requested, 0);
    const reserved = this.d.metadata.getReservedConcurrency(name);
    if (reserved !== undefined) {
      if (others(this.d.metadata.listProvisioned(name)) + value > reserved) {
        throw invalidParameter(
          'Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function',
        );
      }
      return;
    }
    const unreserved = this.d.accountLimit - this.d.metadata.reservedConcurrencyTotal();
    const fromPool = others(
      this.d.metadata
        .listProvisioned()
        .filter((r) => this.d.metadata.getReservedConcurrency(r.functionName) === undefined),
    );
    if (unreserved - fromPool - value < limits.minimumUnreservedConcurrency) {
      throw invalidParameter(
        `Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [${limits.minimumUnreservedConcurrency}].`,
      );
    }
  }

  private missing(name: string): ApiError {
    return notFound(`Function not found: ${functionArn(this.d.account, name)}`);
  }
}
