// Polling for tests that watch the platform change on its own (a poller, a reaper, a pool filling):
// bounded, and failing with what was last seen.

/** Reads `read` until its answer satisfies `ok`, every `everyMs`; throws after `timeoutMs`. */
export async function until<T>(
  what: string,
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 30_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting until ${what}; last seen ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
