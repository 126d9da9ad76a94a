import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IllegalTransitionError, StateMachine, type EnvironmentState } from '../../src/worker/index.js';

describe('environment state machine', () => {
  it('follows the lifecycle and reports every change', () => {
    const seen: string[] = [];
    const m = new StateMachine('e1', (from, to) => seen.push(`${from}>${to}`));
    const path: EnvironmentState[] = ['initializing', 'busy', 'idle', 'busy', 'idle', 'stopping', 'stopped'];
    for (const s of path) m.to(s);
    assert.equal(m.state, 'stopped');
    assert.equal(seen.length, path.length);
    assert.equal(seen[0], 'starting>initializing');
  });

  it('refuses illegal transitions', () => {
    const cases: Array<[EnvironmentState[], EnvironmentState]> = [
      [[], 'busy'],
      [[], 'idle'],
      [['initializing', 'idle'], 'initializing'],
      [['stopping'], 'idle'],
      [['stopping', 'stopped'], 'starting'],
      [['initializing', 'busy'], 'stopped'],
    ];
    for (const [prefix, bad] of cases) {
      const m = new StateMachine('e');
      for (const s of prefix) m.to(s);
      assert.throws(() => m.to(bad), IllegalTransitionError, `${prefix.join('>')} > ${bad}`);
    }
  });

  it('stop() is idempotent', () => {
    const m = new StateMachine('e');
    assert.equal(m.stop(), true);
    assert.equal(m.stop(), false);
    m.to('stopped');
    assert.equal(m.stop(), false);
  });
});
