// Lambda's retry timing for asynchronous invocations.

/** After a function error: the first retry about 1 minute later, the second about 2 minutes later. */
export function functionErrorDelayMs(attemptsSoFar: number): number {
  return attemptsSoFar <= 1 ? 60_000 : 120_000;
}

/** After throttling or a platform error: exponential backoff from 1 second, capped at 5 minutes. */
export function throttleDelayMs(throttlesSoFar: number): number {
  return Math.min(300_000, 1000 * 2 ** Math.min(throttlesSoFar, 20));
}
