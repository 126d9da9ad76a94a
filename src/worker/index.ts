export type { Driver, Sandbox, SandboxExit, SandboxSpec } from './driver.js';
export { Environment } from './environment.js';
export type { EnvironmentResult } from './environment.js';
export { IllegalTransitionError, StateMachine } from './environment-state.js';
export type { EnvironmentState } from './environment-state.js';
export { isRetiredBy, specKey } from './function-spec.js';
export type { FunctionSpec } from './function-spec.js';
export { Worker } from './worker.js';
export type { EnvironmentInfo, InvokeResult, ProvisionedStatus, WorkerOptions } from './worker.js';
