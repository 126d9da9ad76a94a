// What Get/Put/ListProvisionedConcurrencyConfig show: the stored request plus how far the platform got.
import { lambdaTimestamp } from '../model/index.js';
import type { ProvisionedConcurrencyRecord } from '../store/index.js';

/** Progress reported by the platform; undefined when it has not taken the configuration up yet. */
export interface ProvisionedProgress {
  readonly allocated: number;
  readonly failure?: string;
}

export type ProvisionedStatusName = 'IN_PROGRESS' | 'READY' | 'FAILED';

export interface ProvisionedConfigView {
  readonly RequestedProvisionedConcurrentExecutions: number;
  readonly AvailableProvisionedConcurrentExecutions: number;
  readonly AllocatedProvisionedConcurrentExecutions: number;
  readonly Status: ProvisionedStatusName;
  readonly StatusReason?: string;
  readonly LastModified: string;
}

/** FAILED when initialisation failed; READY once every requested environment is initialised. */
export function provisionedView(
  rec: ProvisionedConcurrencyRecord,
  progress: ProvisionedProgress | undefined,
): ProvisionedConfigView {
  const allocated = Math.min(progress?.allocated ?? 0, rec.requested);
  const base = {
    RequestedProvisionedConcurrentExecutions: rec.requested,
    AvailableProvisionedConcurrentExecutions: allocated,
    AllocatedProvisionedConcurrentExecutions: allocated,
    LastModified: lambdaTimestamp(rec.lastModified),
  };
  if (progress?.failure !== undefined) {
    return { ...base, Status: 'FAILED', StatusReason: progress.failure };
  }
  return { ...base, Status: allocated >= rec.requested ? 'READY' : 'IN_PROGRESS' };
}
