export { SqliteEventQueue, type SqliteEventQueueOptions } from './sqlite-event-queue.js';
