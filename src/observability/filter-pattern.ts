// CloudWatch Logs filter patterns for unstructured events: the subset Kiln matches.
//   ERROR            events containing the term (case-sensitive)
//   ERROR timeout    both terms, anywhere
//   "Task timed out" the exact phrase
//   ?ERROR ?WARN     either term (any `?` term)
//   ERROR -health    ERROR but not health
// JSON (`{ $.x = 1 }`), space-delimited (`[a, b]`) and regex (`%re%`) patterns are refused with a
// message naming what is supported, so a caller never gets silently wrong results.
import { JsonServiceError } from '../model/index.js';

export interface FilterPattern {
  readonly required: readonly string[];
  readonly optional: readonly string[];
  readonly excluded: readonly string[];
}

const supported =
  'Kiln supports plain terms, "quoted phrases", ?term (any of) and -term (none of) in filter patterns';

const invalid = (why: string): JsonServiceError =>
  new JsonServiceError('InvalidParameterException', `Invalid filter pattern: ${why}. ${supported}.`);

export function parseFilterPattern(pattern: string): FilterPattern {
  const text = pattern.trim();
  if (text.startsWith('{')) throw invalid('JSON patterns are not supported');
  if (text.startsWith('[')) throw invalid('space-delimited patterns are not supported');
  if (text.startsWith('%')) throw invalid('regular expression patterns are not supported');
  const required: string[] = [];
  const optional: string[] = [];
  const excluded: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    let bucket = required;
    if (c === '?' || c === '-') {
      bucket = c === '?' ? optional : excluded;
      i++;
    }
    let term: string;
    if (text[i] === '"') {
      const end = text.indexOf('"', i + 1);
      if (end === -1) throw invalid(`the quote at position ${i + 1} is never closed`);
      term = text.slice(i + 1, end);
      i = end + 1;
    } else {
      let end = i;
      while (end < text.length && text[end] !== ' ' && text[end] !== '\t') end++;
      term = text.slice(i, end);
      i = end;
    }
    if (term.length === 0) throw invalid(`an empty term at position ${i}`);
    bucket.push(term);
  }
  return { required, optional, excluded };
}

export function matches(p: FilterPattern, message: string): boolean {
  for (const t of p.required) if (!message.includes(t)) return false;
  for (const t of p.excluded) if (message.includes(t)) return false;
  return p.optional.length === 0 || p.optional.some((t) => message.includes(t));
}

/** Whether the pattern lets every event through (empty pattern). */
export const matchesAll = (p: FilterPattern): boolean =>
  p.required.length === 0 && p.optional.length === 0 && p.excluded.length === 0;
