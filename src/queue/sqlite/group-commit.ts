// Runs writes queued in the same turn of the event loop as one SQLite transaction: one fsync for many
// accepted events, which is what makes durable 202s cheap under load.

interface Pending {
  readonly write: () => void;
  readonly durable: boolean;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export class GroupCommit {
  private pending: Pending[] = [];
  private scheduled = false;
  private idle: Promise<void> = Promise.resolve();
  private markIdle: () => void = () => {};

  constructor(
    /** Runs `fn` in one transaction; `durable`: the commit must survive power loss, not only a crash. */
    private readonly transaction: (fn: () => void, durable: boolean) => void,
    private readonly afterCommit: () => void,
  ) {}

  /** Queues `write`; resolves when the transaction holding it commits, rejects if it fails. */
  run(write: () => void, durable: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ write, durable, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        this.idle = new Promise((r) => (this.markIdle = r));
        setImmediate(() => this.flush());
      }
    });
  }

  /** Resolves when nothing is waiting to commit. */
  drained(): Promise<void> {
    return this.scheduled ? this.idle : Promise.resolve();
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    this.scheduled = false;
    try {
      this.transaction(
        () => {
          for (const p of batch) p.write();
        },
        batch.some((p) => p.durable),
      );
    } catch {
      // One bad write must not fail the others: retry them one by one, each in its own transaction.
      for (const p of batch) {
        try {
          this.transaction(p.write, p.durable);
          p.resolve();
        } catch (err) {
          p.reject(err);
        }
      }
      this.finish();
      return;
    }
    for (const p of batch) p.resolve();
    this.finish();
  }

  private finish(): void {
    this.markIdle();
    this.afterCommit();
  }
}
