export {
  Poller,
  type AsyncPolicy,
  type AttemptResult,
  type DeliveryTarget,
  type PollerDeps,
} from './poller.js';
export { PollerFleet } from './poller-fleet.js';
export { invocationRecord } from './invocation-record.js';
export { functionErrorDelayMs, throttleDelayMs } from './retry-schedule.js';
