import { randomUUID } from 'node:crypto';

/** Lambda uses UUIDs for request ids and revision ids. */
export const newId = (): string => randomUUID();
