export * from './errors.js';
export * from './function.js';
export * from './lambda-format.js';
export * from './function-name.js';
export * from './function-rules.js';
export * from './version.js';
export * from './json-errors.js';
