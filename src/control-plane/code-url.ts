// GetFunction's Code.Location: a time-limited URL that serves the stored zip, signed like a presigned URL
// so it works without API credentials (as Lambda's S3 link does) and cannot be forged for other packages.
import { createHmac, timingSafeEqual } from 'node:crypto';

const validityMs = 10 * 60 * 1000;

export class CodeUrlSigner {
  constructor(
    private readonly key: Buffer,
    private readonly now: () => number,
  ) {}

  path(sha256Hex: string): string {
    const expires = Math.floor((this.now() + validityMs) / 1000);
    return `/_kiln/code/${sha256Hex}.zip?Expires=${expires}&Signature=${this.sign(sha256Hex, expires)}`;
  }

  /** True when the signature is ours and has not expired. */
  verify(sha256Hex: string, expires: string | undefined, signature: string | undefined): boolean {
    if (!expires || !signature || !/^\d+$/.test(expires)) return false;
    if (Number(expires) * 1000 < this.now()) return false;
    const want = Buffer.from(this.sign(sha256Hex, Number(expires)));
    const got = Buffer.from(signature);
    return want.length === got.length && timingSafeEqual(want, got);
  }

  private sign(sha256Hex: string, expires: number): string {
    return createHmac('sha256', this.key).update(`${sha256Hex}\n${expires}`).digest('base64url');
  }
}
