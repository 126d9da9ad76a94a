// The platform's own log lines, in Lambda's text format.

/** Printed when an environment begins INIT, as Lambda prints it before the function's init output. */
export const initStartLine = (runtime: string): string => `INIT_START Runtime Version: ${runtime}`;

export const startLine = (requestId: string, version: string): string =>
  `START RequestId: ${requestId} Version: ${version}`;

export const endLine = (requestId: string): string => `END RequestId: ${requestId}`;

export interface ReportFields {
  readonly requestId: string;
  readonly durationMs: number;
  readonly memorySizeMb: number;
  readonly maxMemoryUsedMb: number;
  /** Present on the invocation that paid for a cold start. */
  readonly initDurationMs?: number;
  /** Set when the invocation failed at the platform level (timeout, runtime exit). */
  readonly status?: { readonly status: 'timeout' | 'error'; readonly errorType?: string };
}

/** `REPORT RequestId: … Duration: 1.23 ms Billed Duration: 2 ms …`, tab-separated as Lambda prints it. */
export function reportLine(f: ReportFields): string {
  const parts = [
    `REPORT RequestId: ${f.requestId}`,
    `Duration: ${f.durationMs.toFixed(2)} ms`,
    // Lambda bills in 1 ms increments, rounding up.
    `Billed Duration: ${Math.max(1, Math.ceil(f.durationMs + (f.initDurationMs ?? 0)))} ms`,
    `Memory Size: ${f.memorySizeMb} MB`,
    `Max Memory Used: ${Math.max(1, Math.round(f.maxMemoryUsedMb))} MB`,
  ];
  if (f.initDurationMs !== undefined) parts.push(`Init Duration: ${f.initDurationMs.toFixed(2)} ms`);
  if (f.status) {
    parts.push(`Status: ${f.status.status}`);
    if (f.status.errorType) parts.push(`Error Type: ${f.status.errorType}`);
  }
  return `${parts.join('\t')}\t`;
}

/** Lambda's log stream name: `YYYY/MM/DD/[version]<32 hex>`. */
export function logStreamName(epochMs: number, version: string, hex32: string): string {
  const d = new Date(epochMs);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/[${version}]${hex32}`;
}
