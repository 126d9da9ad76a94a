// Deployment packages as files named by their sha256. A file under its final name is always complete:
// it is written to a temp name, fsynced, renamed, and the directory fsynced, so a crash leaves at worst
// a `tmp-*` file that collectGarbage removes.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { CodeRef } from '../../model/index.js';
import { ApiError, limits } from '../../model/index.js';
import type { CodeStore } from '../ports.js';
import { inspectZip } from './zip-inspect.js';

export interface FileCodeStoreOptions {
  /** Test hook: called once a package is durable under its final name, so a crash test can die there. */
  readonly failpoint?: (name: 'code-written') => void;
}

const SHA_HEX = /^[0-9a-f]{64}$/;
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

  constructor(dir: string, options: FileCodeStoreOptions = {}) {
    this.dir = path.resolve(dir);
    this.failpoint = options.failpoint;
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
    if (await this.locked(async () => this.claim(sha256Hex, final))) return ref;
    const temp = path.join(this.dir, `tmp-${randomUUID()}`);
    this.tempFiles.add(temp);
    try {
      await writeDurably(temp, zip);
      await this.locked(async () => {
        await fs.rename(temp, final);
        await syncDir(this.dir);
        this.claim(sha256Hex, final);
      });
    } catch (err) {
      await fs.rm(temp, { force: true });
      throw err;
    } finally {
      this.tempFiles.delete(temp);
    }
    this.failpoint?.('code-written');
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

  async collectGarbage(keep: ReadonlySet<string>): Promise<number> {
    // Registered before any await: puts that finish from here on are missing from the caller's `keep`.
    const putSince = new Set<string>();
    this.sweeps.add(putSince);
    try {
      return await this.locked(async () => {
        let removed = 0;
        for (const file of await fs.readdir(this.dir)) {
          const full = path.join(this.dir, file);
          const sha = STORED.exec(file)?.[1];
          const doomed =
            sha !== undefined
              ? !keep.has(sha) && !putSince.has(sha)
              : file.startsWith('tmp-') && !this.tempFiles.has(full);
          if (doomed && (await removeIfPresent(full))) removed += 1;
        }
        return removed;
      });
    } finally {
      this.sweeps.delete(putSince);
    }
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

/** Makes a rename in `dir` survive a power loss: the new directory entry is only durable once the directory is. */
async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
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
