// Helpers shared by the versions and aliases tests: functions whose answer names the code that ran.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeZip } from './functions.js';

export const arn = (name: string, qualifier?: string): string =>
  `arn:aws:lambda:us-east-1:000000000000:function:${name}${qualifier === undefined ? '' : `:${qualifier}`}`;

/** A Node function answering `{ marker, version, greeting }`: which code, which version, which configuration. */
export const markerZip = (marker: string): Promise<Buffer> =>
  nodeZip(`
exports.handler = async (event, context) => ({
  marker: ${JSON.stringify(marker)},
  version: context.functionVersion,
  invokedArn: context.invokedFunctionArn,
  greeting: process.env.GREETING,
});
`);

export interface AwsError extends Error {
  $metadata?: { httpStatusCode?: number };
}

/** Asserts an SDK error's type, HTTP status and (optionally) message. */
export function isError(name: string, status: number, message?: RegExp) {
  return (e: AwsError): boolean => {
    if (e.name !== name) throw new Error(`expected ${name}, got ${e.name}: ${e.message}`);
    if (e.$metadata?.httpStatusCode !== status) {
      throw new Error(`expected status ${status}, got ${e.$metadata?.httpStatusCode}`);
    }
    if (message && !message.test(e.message))
      throw new Error(`message ${JSON.stringify(e.message)} !~ ${message}`);
    return true;
  };
}

/** A temp file for the CLI's invoke output, read back and removed. */
export function cliOutFile(): { path: string; read: () => unknown; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-cli-out-'));
  const path = join(dir, 'out.json');
  return {
    path,
    read: () => JSON.parse(readFileSync(path, 'utf8')) as unknown,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
