// Host uids for sandboxes: one unused, unprivileged uid (and gid of the same number) per live environment,
// so no two environments can signal, ptrace or read each other's processes even if a namespace leaked.
export class UidPool {
  private readonly used = new Set<number>();
  private next = 0;

  constructor(
    readonly base: number,
    readonly count: number,
  ) {
    if (!Number.isInteger(base) || base < 1000 || !Number.isInteger(count) || count < 1) {
      throw new Error(`invalid uid pool ${base}+${count}: base must be an integer >= 1000 and count >= 1`);
    }
    if (base + count - 1 > 0xfffffffe) throw new Error(`uid pool ${base}+${count} runs past the largest uid`);
  }

  /** Round-robin from the last allocation, so a just-released uid is reused as late as possible. */
  allocate(): number {
    for (let i = 0; i < this.count; i++) {
      const uid = this.base + ((this.next + i) % this.count);
      if (!this.used.has(uid)) {
        this.used.add(uid);
        this.next = (uid - this.base + 1) % this.count;
        return uid;
      }
    }
    throw new Error(
      `no free sandbox uid: all ${this.count} uids from ${this.base} are in use (raise the driver's uidCount)`,
    );
  }

  /** Takes back a uid that was just released, so ownership can pass between holders without a gap. */
  reserve(uid: number): number {
    if (uid < this.base || uid >= this.base + this.count || this.used.has(uid)) {
      throw new Error(`uid ${uid} is not a free uid of this pool`);
    }
    this.used.add(uid);
    return uid;
  }

  release(uid: number): void {
    this.used.delete(uid);
  }

  get inUse(): number {
    return this.used.size;
  }
}
