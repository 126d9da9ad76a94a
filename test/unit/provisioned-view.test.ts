import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { provisionedView } from '../../src/control-plane/provisioned-view.js';

const rec = { functionName: 'f', qualifier: '1', requested: 3, lastModified: Date.UTC(2024, 0, 2, 3, 4, 5) };

describe('provisionedView', () => {
  it('is IN_PROGRESS until every requested environment is initialised, then READY', () => {
    assert.equal(provisionedView(rec, undefined).Status, 'IN_PROGRESS');
    const partial = provisionedView(rec, { allocated: 2 });
    assert.equal(partial.Status, 'IN_PROGRESS');
    assert.equal(partial.AllocatedProvisionedConcurrentExecutions, 2);
    assert.equal(partial.AvailableProvisionedConcurrentExecutions, 2);
    const ready = provisionedView(rec, { allocated: 3 });
    assert.equal(ready.Status, 'READY');
    assert.equal(ready.RequestedProvisionedConcurrentExecutions, 3);
    assert.equal(ready.LastModified, '2024-01-02T03:04:05.000+0000');
    assert.equal(ready.StatusReason, undefined);
  });

  it('never reports more than requested, and FAILED with the reason when init failed', () => {
    assert.equal(provisionedView(rec, { allocated: 5 }).AllocatedProvisionedConcurrentExecutions, 3);
    const failed = provisionedView(rec, { allocated: 1, failure: 'FUNCTION_ERROR_INIT_FAILURE' });
    assert.equal(failed.Status, 'FAILED');
    assert.equal(failed.StatusReason, 'FUNCTION_ERROR_INIT_FAILURE');
  });
});
