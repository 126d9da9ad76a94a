// Enforces the dependency direction of docs/architecture.md (DESIGN.md §5):
// a folder of src/ imports only the folders listed for it, and only through their index.ts
// (app/, the composition root, may also import a backend's own index, e.g. store/sqlite/index.ts).
import path from 'node:path';

/** Which top-level folders of src/ each folder may import. */
export const allowed = {
  model: [],
  shared: [],
  config: ['model', 'shared'],
  store: ['model', 'shared'],
  http: ['model', 'shared'],
  'runtime-api': ['model', 'shared'],
  observability: ['model', 'shared'],
  worker: ['model', 'shared', 'store', 'runtime-api', 'observability'],
  placement: ['model', 'shared', 'worker', 'runtime-api'],
  queue: ['model', 'shared'],
  poller: ['model', 'shared', 'queue'],
  invoke: ['model', 'shared', 'store', 'http', 'worker', 'placement', 'runtime-api', 'queue'],
  'control-plane': ['model', 'shared', 'store', 'http'],
  runtimes: [],
  client: ['model', 'shared'],
  cli: ['client'],
  app: '*',
};

const srcRoot = path.resolve(import.meta.dirname, '..', 'src');

function topFolder(file) {
  const rel = path.relative(srcRoot, file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  const parts = rel.split(path.sep);
  return parts.length > 1 ? { folder: parts[0], rest: parts.slice(1) } : undefined;
}

export const layeringRule = {
  meta: {
    type: 'problem',
    docs: { description: 'imports follow the layering of DESIGN.md §5' },
    schema: [],
  },
  create(context) {
    const from = topFolder(context.filename);
    if (!from) return {};
    function check(node) {
      const spec = node.source?.value;
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const target = topFolder(path.resolve(path.dirname(context.filename), spec));
      if (!target || target.folder === from.folder) return;
      const rules = allowed[from.folder];
      if (rules === undefined) {
        context.report({
          node,
          message: `src/${from.folder}/ has no entry in eslint/layering-rule.js; add one.`,
        });
        return;
      }
      if (rules !== '*' && !rules.includes(target.folder)) {
        context.report({
          node,
          message: `src/${from.folder}/ may not import src/${target.folder}/ (allowed: ${rules.join(', ') || 'none'}); see DESIGN.md §5.`,
        });
        return;
      }
      const last = target.rest[target.rest.length - 1];
      const viaIndex = last === 'index.js' && (target.rest.length === 1 || rules === '*');
      if (!viaIndex) {
        context.report({
          node,
          message: `import src/${target.folder}/ through its index.ts, not ${target.rest.join('/')}.`,
        });
      }
    }
    return {
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
      ImportExpression: check,
    };
  },
};
