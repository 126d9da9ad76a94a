export * from './log-capture.js';
export * from './log-sink.js';
export * from './report-lines.js';
