// Everything per account: each account gets its own control-plane services, InvokeService and concurrency
// limit (Lambda's limit is per account), bound to that account's metadata, made on first use and kept.
// What they share is the platform: the code store (content-addressed), the fleet (which keys functions by
// ARN, so by account), the event queue and the clocks.
import {
  EventInvokeConfigService,
  FunctionService,
  ProvisionedService,
  type AccountServices,
  type CodeCollector,
} from '../control-plane/index.js';
import { InvokeService, toSpec, type InvocationObserver } from '../invoke/index.js';
import { functionArn, type Account } from '../model/index.js';
import { ConcurrencyLimiter, type Fleet } from '../placement/index.js';
import type { EventQueue } from '../queue/index.js';
import type { Clock, Logger } from '../shared/index.js';
import type { CodeStore, MetadataStore } from '../store/index.js';

/** One account's side of the platform. */
export interface Tenant extends AccountServices {
  readonly invoke: InvokeService;
}

export interface TenantsDeps {
  readonly region: string;
  readonly metadata: MetadataStore;
  readonly code: CodeStore;
  readonly garbage: CodeCollector;
  readonly fleet: Fleet;
  readonly clock: Clock;
  readonly log: Logger;
  readonly failpoint: (name: string) => void;
  /** Each account's concurrency limit (KILN_ACCOUNT_CONCURRENCY). */
  readonly accountConcurrency: number;
  readonly queue: EventQueue;
  readonly queueClock: Clock;
  readonly leaseMarginMs: number;
  readonly observer: InvocationObserver;
}

export class Tenants {
  private readonly byAccount = new Map<string, Tenant>();

  constructor(private readonly d: TenantsDeps) {}

  of(accountId: string): Tenant {
    let t = this.byAccount.get(accountId);
    if (!t) {
      t = this.make(accountId);
      this.byAccount.set(accountId, t);
    }
    return t;
  }

  private make(accountId: string): Tenant {
    const d = this.d;
    const account: Account = { region: d.region, accountId };
    const metadata = d.metadata.account(accountId);
    const log = d.log.child({ account: accountId });
    // A provisioned configuration is known to the fleet by its qualified ARN, unique across accounts.
    const provisioned = new ProvisionedService({
      account,
      metadata,
      clock: d.clock,
      log,
      accountLimit: d.accountConcurrency,
      capacity: {
        apply: (name, qualifier, target, count) =>
          d.fleet.setProvisioned(
            functionArn(account, name, qualifier),
            target && toSpec(target, account),
            count,
          ),
        progress: (name, qualifier) => d.fleet.provisionedStatus(functionArn(account, name, qualifier)),
      },
    });
    const functions = new FunctionService({
      account,
      metadata,
      code: d.code,
      garbage: d.garbage,
      clock: d.clock,
      log,
      failpoint: d.failpoint,
      onChange: (name, version, keepRevision) =>
        void d.fleet.retire(functionArn(account, name), version, keepRevision),
      onAliasChange: (name, alias) => provisioned.reapply(name, alias),
    });
    const invoke = new InvokeService({
      account,
      metadata,
      fleet: d.fleet,
      clock: d.clock,
      log,
      concurrency: new ConcurrencyLimiter({
        accountLimit: d.accountConcurrency,
        totalReserved: () => metadata.reservedConcurrencyTotal(),
      }),
      queue: d.queue,
      queueClock: d.queueClock,
      leaseMarginMs: d.leaseMarginMs,
      observer: d.observer,
    });
    return {
      account,
      metadata,
      functions,
      provisioned,
      eventInvokeConfigs: new EventInvokeConfigService({ account, metadata, clock: d.clock, log }),
      invoke,
    };
  }
}
