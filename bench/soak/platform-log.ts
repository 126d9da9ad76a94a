// Kiln's own output (pino JSON lines on stderr, a ready line on stdout): error-level lines are platform
// errors; warnings are counted by message so a reader sees what the platform complained about.

export interface PlatformLog {
  /** Lines at level error or fatal, and anything unparseable that looks like a crash. */
  readonly errors: string[];
  /** By message: how many, and the first such line. */
  readonly warnings: Record<string, { count: number; first: string }>;
  readonly otherLines: number;
  /** Every warning and error line (the first `keep`), for the JSON file. */
  readonly lines: string[];
}

const keep = 200;

const harmless = [/^Kiln listening on /, /^Kiln stopped/i];

export function scanPlatformLog(output: string): PlatformLog {
  const errors: string[] = [];
  const warnings: Record<string, { count: number; first: string }> = {};
  let otherLines = 0;
  const lines: string[] = [];
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    let entry: { level?: number; msg?: string } | undefined;
    try {
      entry = JSON.parse(line) as { level?: number; msg?: string };
    } catch {
      entry = undefined;
    }
    if (entry === undefined || typeof entry.level !== 'number') {
      if (harmless.some((h) => h.test(line))) continue;
      otherLines += 1;
      if (/error|uncaught|fatal|exception/i.test(line)) errors.push(line.slice(0, 500));
      continue;
    }
    if (entry.level >= 40 && lines.length < keep) lines.push(line);
    if (entry.level >= 50) errors.push(line.slice(0, 500));
    else if (entry.level >= 40) {
      const msg = entry.msg ?? '(no msg)';
      const seen = warnings[msg];
      if (seen) seen.count += 1;
      else warnings[msg] = { count: 1, first: line.slice(0, 800) };
    }
  }
  return { errors, warnings, otherLines, lines };
}
