// The code collector shared by every account's services: a package is garbage only when no account's
// record references it and no request of any account still holds it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CodeCollector } from '../../src/control-plane/index.js';
import type { CodeStore } from '../../src/store/index.js';

describe('CodeCollector', () => {
  it("keeps what any account references or holds, whichever account's request collects", async () => {
    const kept: Set<string>[] = [];
    const code = {
      collectGarbage: async (keep: ReadonlySet<string>) => {
        kept.push(new Set(keep));
        return 0;
      },
    } as unknown as CodeStore;
    // Account A's record references `a`; a request of account B has written `b` and not committed yet.
    const garbage = new CodeCollector(code, () => new Set(['a']));
    garbage.hold('b');
    garbage.hold('b');
    await garbage.collect();
    garbage.release('b');
    await garbage.collect();
    garbage.release('b');
    await garbage.collect();
    assert.deepEqual(
      kept.map((k) => [...k].sort()),
      [['a', 'b'], ['a', 'b'], ['a']],
      'held twice, kept until released twice',
    );
  });
});
