// Teardown that must happen however the run ends: normal return, a thrown error, Ctrl-C or the watchdog.

type Task = () => Promise<void>;
const tasks = new Set<Task>();

/** Registers a teardown step; call the returned function once the step has run on the normal path. */
export function onCleanup(task: Task): () => void {
  tasks.add(task);
  return () => tasks.delete(task);
}

/** Runs every registered step (newest first, so dependants go before what they depend on). */
export async function runCleanups(): Promise<void> {
  const pending = [...tasks].reverse();
  tasks.clear();
  for (const task of pending) {
    try {
      await task();
    } catch (err) {
      console.error(`cleanup step failed: ${(err as Error).message}`);
    }
  }
}
