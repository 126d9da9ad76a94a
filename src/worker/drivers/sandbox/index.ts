// The `sandbox` driver: bubblewrap namespaces + cgroups (v1 or v2), one unprivileged uid per environment.
export { SandboxDriver, type SandboxDriverOptions } from './sandbox-driver.js';
