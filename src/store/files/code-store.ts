// Deployment packages as files named by their sha256. A file under its final name is always complete:
// it is written to a temp name, fsynced, renamed, and the directory fsynced, so a crash leaves at worst
// a `tmp-*` file that collectGarbage removes.
//
// Packages are also unpacked for execution, into `<unpackDir>/<sha>/` (by default `unpacked/` beside the code
// directory). A tree is extracted into `tmp-*` and renamed into place, so one under its final name is whole.
// A put extracts the upload's bytes while its zip is being written and fsynced, and renames the tree into place
// right after the zip (under the same lock, or later if the extraction is still running): a tree under its
// final name always has its zip beside it, and a put that fails leaves only `tmp-*` trees, for the sweep.
// Trees are not fsynced (milliseconds per file, on the first cold start of new code): a crash of Kiln loses
// nothing the kernel has seen, and a crash of the machine is a new boot, whose first unpack finds `.boot-id`
// naming another one and moves every tree aside to be rebuilt from its zip.
// Holds counted per sha keep trees in use from the sweep; the sweep moves a doomed tree to `trash-*` in the
// same event-loop turn as it checks for holds, so a tree an `unpacked()` caller was given is never removed.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { CodeRef } from '../../model/index.js';
import { ApiError, limits } from '../../model/index.js';
import type { Logger } from '../../shared/index.js';
import { silentLogger } from '../../shared/index.js';
import type { CodeStore, UnpackedCode } from '../ports.js';
import { extractZip, removeTree, syncDir } from './zip-extract.js';
import { inspectZip } from './zip-inspect.js';

export interface FileCodeStoreOptions {
  /**
   * Test hook, so a crash test can die there: `code-extracted` once a new package is durable under a temp name
   * and unpacked into a temp tree (unless the put leaves its extraction to finish in the background),
   * `code-written` once the zip is under its final name, and the tree too unless it is still being extracted.
   */
  readonly failpoint?: (name: 'code-extracted' | 'code-written') => void;
  /**
   * How many extractions may still be running after their put has answered (1 when absent); a put beyond
   * that waits for its own. 0: every put answers with its tree in place.
   */
  readonly backgroundExtractions?: number;
  /** Where packages are unpacked for execution; `unpacked/` beside the code directory when absent. */
  readonly unpackDir?: string;
  /** The machine's boot id; read from the kernel when absent (tests pass one to simulate a reboot). */
  readonly bootId?: string;
  /** Hears of extractions a put started that failed: the put succeeds all the same, and `unpacked` tries again. */
  readonly log?: Logger;
}

/** A put's extraction of the bytes it is storing, registered as the sha's extraction in progress. */
interface EarlyTree {
  /** The temp tree; undefined when the tree was in place already or the extraction failed (and was logged). */
  readonly extracted: Promise<string | undefined>;
  /** Whether `extracted` has settled. */
  isDone(): boolean;
  /** Renames the temp tree into place: only once its zip is stored. */
  place(temp: string): Promise<void>;
  /** Removes the temp tree, once the extraction is over: its zip was not stored. */
  discard(err: unknown): Promise<void>;
}

const SHA_HEX = /^[0-9a-f]{64}$/;
/** In the unpack directory: the boot its trees were written in. The sweep leaves names it does not know alone. */
const BOOT_MARKER = '.boot-id';
const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';
const STORED = /^([0-9a-f]{64})\.zip$/;

export class FileCodeStore implements CodeStore {
  private readonly dir: string;
  private readonly failpoint: FileCodeStoreOptions['failpoint'];
  /**
   * Serialises a put's final step (finding or renaming its file) against a whole sweep: a put that claims
   * its file before a sweep starts is done before the caller snapshots `keep`; one that claims it later is
   * recorded in that sweep's set and spared.
   */
  private gate: Promise<void> = Promise.resolve();
  /** One set per running sweep: shas put after it was called, which its `keep` snapshot cannot know about. */
  private readonly sweeps = new Set<Set<string>>();
  /** Temp files of puts in progress; a sweep removes only those a crash left behind. */
  private readonly tempFiles = new Set<string>();
  private readonly unpackDir: string;
  /** Holds per sha handed out by `unpacked` and not yet released; a held tree is never swept. */
  private readonly holds = new Map<string, number>();
  /** Extractions in progress, shared by concurrent callers of the same sha; their zips are spared. */
  private readonly unpacking = new Map<string, Promise<string>>();
  /** Temp trees of extractions in progress, and trash a sweep is removing, which other sweeps leave alone. */
  private readonly busyDirs = new Set<string>();
  private readonly bootId: string | undefined;
  /** The unpack directory exists, and holds no tree from an earlier boot; once per store. */
  private unpackDirReady: Promise<void> | undefined;
  private unpackDirChecked = false;
  private readonly log: Logger;
  private readonly backgroundLimit: number;
  /** Extractions running after their put answered. */
  private background = 0;

  constructor(dir: string, options: FileCodeStoreOptions = {}) {
    this.dir = path.resolve(dir);
    this.failpoint = options.failpoint;
    this.unpackDir = path.resolve(options.unpackDir ?? path.join(path.dirname(this.dir), 'unpacked'));
    this.bootId = options.bootId;
    this.log = options.log ?? silentLogger();
    this.backgroundLimit = options.backgroundExtractions ?? 1;
    mkdirSync(this.dir, { recursive: true });
  }

  async inspect(zip: Buffer): Promise<CodeRef> {
    if (zip.length > limits.zippedBytes) {
      throw new ApiError(
        'RequestEntityTooLargeException',
        `Zipped size must be smaller than ${limits.zippedBytes} bytes; upload a smaller package`,
      );
    }
    const { unzippedSize } = await inspectZip(zip);
    return { sha256Hex: createHash('sha256').update(zip).digest('hex'), size: zip.length, unzippedSize };
  }

  async put(zip: Buffer): Promise<CodeRef> {
    const ref = await this.inspect(zip);
    const { sha256Hex } = ref;
    const final = this.pathOf(sha256Hex);
    // Extracting is CPU and page-cache writes, while the durable write mostly waits for the disk: side by side,
    // the tree is usually ready by the time the zip is, and a first Invoke does not wait for it.
    const early = this.unpackEarly(sha256Hex, zip);
    let temp: string | undefined;
    let handOver = false;
    try {
      if (await this.locked(async () => this.claim(sha256Hex, final))) {
        if (!early) return ref;
      } else {
        temp = path.join(this.dir, `tmp-${randomUUID()}`);
        this.tempFiles.add(temp);
        await writeDurably(temp, zip);
      }
      // An extraction still running may go on after the put has answered (the Invoke that needs the tree joins
      // it), a package of many files taking much longer than its fsync; but only so many at a time: beyond
      // that the put waits for its own, so a burst of uploads is not a burst of background disk work.
      handOver = early !== undefined && !early.isDone() && this.background < this.backgroundLimit;
      // Counted from here: puts that finish writing meanwhile must see the slot taken.
      if (handOver) this.background += 1;
      const tree = handOver ? undefined : await early?.extracted;
      if (temp !== undefined && tree !== undefined) this.failpoint?.('code-extracted');
      await this.locked(async () => {
        if (temp !== undefined) {
          await fs.rename(temp, final);
          await syncDir(this.dir);
        }
        if (early && tree !== undefined) await early.place(tree);
        // Last, as the put returns right after: see `gate`.
        this.claim(sha256Hex, final);
      });
    } catch (err) {
      if (handOver) this.background -= 1;
      await early?.discard(err);
      if (temp !== undefined) await fs.rm(temp, { force: true });
      throw err;
    } finally {
      if (temp !== undefined) this.tempFiles.delete(temp);
    }
    if (early && handOver) this.placeLater(early);
    if (temp !== undefined) this.failpoint?.('code-written');
    return ref;
  }

  has(sha256Hex: string): boolean {
    return SHA_HEX.test(sha256Hex) && existsSync(this.pathOf(sha256Hex));
  }

  pathOf(sha256Hex: string): string {
    // The sha becomes a file name; anything but 64 hex digits could name a path outside the store.
    if (!SHA_HEX.test(sha256Hex)) throw new Error(`not a lowercase hex sha256: ${JSON.stringify(sha256Hex)}`);
    return path.join(this.dir, `${sha256Hex}.zip`);
  }

  async unpacked(sha256Hex: string): Promise<UnpackedCode> {
    const zipFile = this.pathOf(sha256Hex);
    // Counted before any await, so a sweep running meanwhile already sees the hold.
    this.holds.set(sha256Hex, (this.holds.get(sha256Hex) ?? 0) + 1);
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      const left = (this.holds.get(sha256Hex) ?? 1) - 1;
      if (left > 0) this.holds.set(sha256Hex, left);
      else this.holds.delete(sha256Hex);
    };
    try {
      let running = this.unpacking.get(sha256Hex);
      if (!running) {
        running = this.unpack(sha256Hex, zipFile).finally(() => this.unpacking.delete(sha256Hex));
        this.unpacking.set(sha256Hex, running);
      }
      return { dir: await running, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  async collectGarbage(keep: ReadonlySet<string>): Promise<number> {
    // Registered before any await: puts that finish from here on are missing from the caller's `keep`.
    const putSince = new Set<string>();
    this.sweeps.add(putSince);
    let trash: string[] = [];
    let removed = 0;
    try {
      removed = await this.locked(async () => {
        let count = 0;
        for (const file of await fs.readdir(this.dir)) {
          const full = path.join(this.dir, file);
          const sha = STORED.exec(file)?.[1];
          const doomed =
            sha !== undefined
              ? !keep.has(sha) && !putSince.has(sha) && !this.unpacking.has(sha)
              : file.startsWith('tmp-') && !this.tempFiles.has(full);
          if (doomed && (await removeIfPresent(full))) count += 1;
        }
        trash = await this.doomedTrees((sha) => keep.has(sha) || putSince.has(sha));
        return count;
      });
    } finally {
      this.sweeps.delete(putSince);
    }
    // Outside the lock: removing a large tree must not hold up puts.
    try {
      for (const dir of trash) {
        await removeTree(dir);
        removed += 1;
      }
    } finally {
      for (const dir of trash) this.busyDirs.delete(dir);
    }
    return removed;
  }

  /** Extracts a stored zip into a temp tree beside the final one, then renames it into place. */
  private async unpack(sha256Hex: string, zipFile: string): Promise<string> {
    const final = this.treeOf(sha256Hex);
    if (this.unpackDirChecked && existsSync(final)) return final;
    if (!existsSync(zipFile))
      throw new Error(`Code package ${sha256Hex} is not stored, so it cannot be unpacked`);
    const temp = await this.extractTemp(sha256Hex, zipFile);
    if (temp === undefined) return final;
    try {
      await fs.rename(temp, final);
      return final;
    } catch (err) {
      await removeTree(temp).catch(() => undefined);
      throw unpackError(sha256Hex, err);
    } finally {
      this.busyDirs.delete(temp);
    }
  }

  /**
   * Starts extracting the bytes a put is storing, as the sha's extraction in progress: `unpacked` callers wait
   * for the put to place the tree (or fail). Undefined when the tree is in place or already being extracted.
   */
  private unpackEarly(sha256Hex: string, zip: Buffer): EarlyTree | undefined {
    const final = this.treeOf(sha256Hex);
    if (this.unpacking.has(sha256Hex) || (this.unpackDirChecked && existsSync(final))) return undefined;
    let settle!: { resolve: (dir: string) => void; reject: (err: unknown) => void };
    const outcome = new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
    this.unpacking.set(sha256Hex, outcome);
    // Also handles the rejection when no `unpacked` caller waits: the put learns the outcome first-hand.
    const forget = (): void => void this.unpacking.delete(sha256Hex);
    outcome.then(forget, forget);
    let done = false;
    const extracted = this.extractTemp(sha256Hex, zip).then(
      (temp) => {
        done = true;
        if (temp === undefined) settle.resolve(final);
        return temp;
      },
      (err: unknown) => {
        done = true;
        this.log.warn(
          { err, sha256: sha256Hex },
          'unpacking a new code package ahead of its first invocation failed',
        );
        settle.reject(err);
        return undefined;
      },
    );
    return {
      extracted,
      isDone: () => done,
      place: async (temp) => {
        try {
          await fs.rename(temp, final);
          settle.resolve(final);
        } catch (err) {
          // No longer busy, so the next sweep removes it: not while holding the lock.
          settle.reject(unpackError(sha256Hex, err));
        } finally {
          this.busyDirs.delete(temp);
        }
      },
      discard: async (err) => {
        const temp = await extracted;
        if (temp !== undefined) {
          await removeTree(temp).catch(() => undefined);
          this.busyDirs.delete(temp);
        }
        settle.reject(new Error(`Code package ${sha256Hex} could not be stored`, { cause: err }));
      },
    };
  }

  /**
   * Lets an extraction finish after its put has answered, in a `background` slot the put took, and places the
   * tree: its zip is stored by then. Sweeps need no lock against this: like any tree, it goes only if no
   * record references it and no one holds it.
   */
  private placeLater(early: EarlyTree): void {
    void early.extracted
      .then(async (temp) => {
        if (temp !== undefined) await early.place(temp);
      })
      .finally(() => {
        this.background -= 1;
      });
  }

  /**
   * Extracts into a new temp tree, busy (spared by sweeps) until the caller renames or removes it; undefined
   * when the tree is in place already. A failed extraction leaves nothing behind.
   */
  private async extractTemp(sha256Hex: string, zip: Buffer | string): Promise<string | undefined> {
    this.unpackDirReady ??= this.prepareUnpackDir().then(
      () => void (this.unpackDirChecked = true),
      (err: unknown) => {
        // Retried by the next call rather than remembered.
        this.unpackDirReady = undefined;
        throw err;
      },
    );
    await this.unpackDirReady;
    if (existsSync(this.treeOf(sha256Hex))) return undefined;
    const temp = path.join(this.unpackDir, `tmp-${randomUUID()}`);
    this.busyDirs.add(temp);
    try {
      await fs.mkdir(temp, { mode: 0o700 });
      await extractZip(zip, temp);
      return temp;
    } catch (err) {
      // Should this fail too, the next sweep removes the temp tree; the extraction error is the one to report.
      await removeTree(temp).catch(() => undefined);
      this.busyDirs.delete(temp);
      throw unpackError(sha256Hex, err);
    }
  }

  private treeOf(sha256Hex: string): string {
    return path.join(this.unpackDir, sha256Hex);
  }

  /**
   * Creates the unpack directory and, unless its marker names the current boot, moves every tree in it to
   * `trash-*` (for the sweep) before writing the marker: trees written before a crash of the machine may have
   * lost data that was never fsynced. The marker itself needs no fsync either: lost or torn, it names no boot.
   */
  private async prepareUnpackDir(): Promise<void> {
    // Sandboxes run as other uids and must be able to reach the trees; umask could make this 0700.
    if (await fs.mkdir(this.unpackDir, { recursive: true })) await fs.chmod(this.unpackDir, 0o755);
    const boot = this.bootId ?? (await fs.readFile(BOOT_ID_FILE, 'utf8')).trim();
    const marker = path.join(this.unpackDir, BOOT_MARKER);
    const marked = await fs.readFile(marker, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (marked === boot) return;
    for (const name of await fs.readdir(this.unpackDir)) {
      if (!SHA_HEX.test(name)) continue;
      await fs
        .rename(path.join(this.unpackDir, name), path.join(this.unpackDir, `trash-${randomUUID()}`))
        .catch((err: NodeJS.ErrnoException) => {
          // A sweep got there first.
          if (err.code !== 'ENOENT') throw err;
        });
    }
    await fs.writeFile(marker, boot);
  }

  /**
   * Moves unpacked trees that are neither kept nor held to `trash-*` names and returns those, with trash and
   * temp trees a crash left behind. The hold check and the rename happen in one synchronous step: an
   * `unpacked()` call either came first (and holds the tree) or comes after (and extracts it anew).
   */
  private async doomedTrees(kept: (sha: string) => boolean): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.unpackDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const doomed: string[] = [];
    for (const name of names) {
      const full = path.join(this.unpackDir, name);
      if (SHA_HEX.test(name)) {
        if (kept(name) || this.holds.has(name)) continue;
        const trash = path.join(this.unpackDir, `trash-${randomUUID()}`);
        try {
          renameSync(full, trash);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw err;
        }
        doomed.push(trash);
      } else if ((name.startsWith('tmp-') || name.startsWith('trash-')) && !this.busyDirs.has(full)) {
        doomed.push(full);
      }
    }
    // Busy from now on, so a sweep that starts before these are gone does not remove them twice.
    for (const dir of doomed) this.busyDirs.add(dir);
    return doomed;
  }

  /** Marks a sha as just put for every running sweep; true when its file is already in place. */
  private claim(sha256Hex: string, final: string): boolean {
    for (const sweep of this.sweeps) sweep.add(sha256Hex);
    return existsSync(final);
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.gate.then(fn);
    this.gate = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

async function writeDurably(file: string, data: Buffer): Promise<void> {
  const fh = await fs.open(file, 'wx');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function unpackError(sha256Hex: string, err: unknown): Error {
  return new Error(`Code package ${sha256Hex} could not be unpacked: ${(err as Error).message}`, {
    cause: err,
  });
}

async function removeIfPresent(file: string): Promise<boolean> {
  try {
    await fs.unlink(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
