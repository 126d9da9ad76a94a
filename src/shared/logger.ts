// The platform's structured logger: pino, JSON lines on stderr so stdout stays for the CLI's own output.
import { destination, pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: { svc: 'kiln' } }, destination({ fd: 2, sync: false }));
}

/** A logger that drops everything, for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
