// Whether the function, version or alias a destination or dead-letter ARN names exists now.
import { classifyQualifier, type FunctionTarget } from '../model/index.js';
import type { AccountMetadata } from '../store/index.js';

export function targetExists(metadata: AccountMetadata, t: FunctionTarget): boolean {
  if (!metadata.get(t.functionName)) return false;
  const q = classifyQualifier(t.qualifier);
  if (q.kind === 'latest') return true;
  if (q.kind === 'version') return metadata.getVersion(t.functionName, q.version) !== undefined;
  return metadata.getAlias(t.functionName, q.name) !== undefined;
}
