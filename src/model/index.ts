export * from './errors.js';
export * from './function.js';
export * from './lambda-format.js';
export * from './function-name.js';
export * from './function-rules.js';
export * from './version.js';
export * from './destination-arn.js';
export * from './event-invoke-config.js';
