// Every scenario gets a wall-clock budget on top of its sample counts, so a slow or wedged machine ends the
// run with partial (and labelled) results instead of running on.

export class Budget {
  private readonly deadline: number;

  constructor(readonly ms: number) {
    this.deadline = Date.now() + ms;
  }

  get expired(): boolean {
    return Date.now() >= this.deadline;
  }

  left(): number {
    return Math.max(0, this.deadline - Date.now());
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
