// Renderings Lambda uses on the wire.

/** `2024-01-02T03:04:05.678+0000`, Lambda's LastModified format. */
export function lambdaTimestamp(epochMs: number): string {
  return new Date(epochMs).toISOString().replace('Z', '+0000');
}

/** Lambda's CodeSha256 is the base64 (not hex) of the zip's sha256. */
export function codeSha256Base64(sha256Hex: string): string {
  return Buffer.from(sha256Hex, 'hex').toString('base64');
}
