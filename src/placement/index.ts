export { Fleet } from './fleet.js';
export type { FleetOptions, WorkerHandle } from './fleet.js';
