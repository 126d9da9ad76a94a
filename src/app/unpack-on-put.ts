// Unpacking a package takes milliseconds (inflating, creating files and directories) that a cold start would
// otherwise spend on its critical path the first time new code runs. This wrapper starts that work as soon as
// CreateFunction or UpdateFunctionCode has stored the package, in the background, so the first Invoke finds the
// tree ready (or joins the extraction already running: the store shares one per sha).
import type { CodeRef } from '../model/index.js';
import type { Logger } from '../shared/index.js';
import type { CodeStore } from '../store/index.js';

export class UnpackOnPut implements CodeStore {
  /** One background extraction at a time, so a burst of uploads does not become a burst of disk work. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly code: CodeStore,
    private readonly log: Logger,
  ) {}

  async put(zip: Buffer): Promise<CodeRef> {
    const ref = await this.code.put(zip);
    this.queue = this.queue.then(() => this.unpackNow(ref.sha256Hex));
    return ref;
  }

  /** Waits for the background extractions started so far (tests, shutdown). */
  idle(): Promise<void> {
    return this.queue;
  }

  inspect(zip: Buffer): Promise<CodeRef> {
    return this.code.inspect(zip);
  }

  has(sha256Hex: string): boolean {
    return this.code.has(sha256Hex);
  }

  pathOf(sha256Hex: string): string {
    return this.code.pathOf(sha256Hex);
  }

  unpacked(sha256Hex: string): ReturnType<CodeStore['unpacked']> {
    return this.code.unpacked(sha256Hex);
  }

  collectGarbage(keep: ReadonlySet<string>): Promise<number> {
    return this.code.collectGarbage(keep);
  }

  private async unpackNow(sha256Hex: string): Promise<void> {
    try {
      // The hold only covers the extraction: the tree stays on disk for as long as a record references it.
      (await this.code.unpacked(sha256Hex)).release();
    } catch (err) {
      // The Invoke that needs it will try again and report the failure to its caller.
      this.log.warn(
        { err, sha256: sha256Hex },
        'unpacking a new code package ahead of its first invocation failed',
      );
    }
  }
}
