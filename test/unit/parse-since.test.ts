import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSince } from '../../src/cli/index.js';

describe('kiln logs --since', () => {
  const now = Date.parse('2026-01-02T03:04:05.000Z');
  it('takes durations back from now', () => {
    assert.equal(parseSince('30s', now), now - 30_000);
    assert.equal(parseSince('10m', now), now - 600_000);
    assert.equal(parseSince('2h', now), now - 7_200_000);
    assert.equal(parseSince('1d', now), now - 86_400_000);
    assert.equal(parseSince('1w', now), now - 604_800_000);
  });
  it('takes ISO 8601 times', () => {
    assert.equal(parseSince('2026-01-01T00:00:00Z', now), Date.parse('2026-01-01T00:00:00Z'));
  });
  it('refuses anything else', () => {
    for (const v of ['', '10', 'm', '-5m', '10 minutes', 'yesterday', '2026-13-45']) {
      assert.equal(parseSince(v, now), undefined, v);
    }
  });
});
