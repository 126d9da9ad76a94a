// Request bodies of Kiln's own `/_kiln` endpoints: a small JSON object, or nothing usable.

/** The body parsed as a JSON object; `{}` for anything else (an empty or malformed body, an array). */
export function jsonObject(body: unknown): Readonly<Record<string, unknown>> {
  try {
    const parsed: unknown = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : '');
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}
