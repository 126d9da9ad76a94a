export { Fleet } from './fleet.js';
export type { FleetOptions, WorkerHandle } from './fleet.js';
export { ConcurrencyLimiter, ScalingRateLimiter, throttled } from './concurrency.js';
export type { ConcurrencyOptions, ScalingRateOptions, ThrottleReason } from './concurrency.js';
