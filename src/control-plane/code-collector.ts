// Code packages are content-addressed and shared by every account, so whether one is garbage is decided
// over all accounts' records, and the packages of requests still in flight (of any account) are kept.
import type { CodeStore } from '../store/index.js';

export class CodeCollector {
  /** Code packages written but not yet referenced by a committed record: never garbage. */
  private readonly pending = new Map<string, number>();

  constructor(
    private readonly code: CodeStore,
    /** Every package some record of any account points at. */
    private readonly referenced: () => Set<string>,
  ) {}

  /** Protects a package just written until `release`. */
  hold(sha256Hex: string): void {
    this.pending.set(sha256Hex, (this.pending.get(sha256Hex) ?? 0) + 1);
  }

  release(sha256Hex: string): void {
    const n = (this.pending.get(sha256Hex) ?? 1) - 1;
    if (n <= 0) this.pending.delete(sha256Hex);
    else this.pending.set(sha256Hex, n);
  }

  /** Removes code no committed record references (also what a crash left half-written). */
  async collect(): Promise<number> {
    const keep = this.referenced();
    for (const sha of this.pending.keys()) keep.add(sha);
    return this.code.collectGarbage(keep);
  }
}
