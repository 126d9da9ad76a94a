// Runs the compiled test suite with Node's own test runner.
// Usage: node scripts/run-tests.mjs [substring…] — only files whose path contains a substring.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return find(p);
    return p.endsWith('.test.js') ? [p] : [];
  });
}

const filters = process.argv.slice(2);
// tsc never removes what it compiled from a source since deleted: such a test would still run from dist/.
const hasSource = (f) => existsSync(f.replace(/^dist[/\\]/, '').replace(/\.js$/, '.ts'));
const files = find('dist/test')
  .filter((f) => hasSource(f) && (filters.length === 0 || filters.some((s) => f.includes(s))))
  .sort();
if (files.length === 0) {
  console.error('no test files matched; run `npm run build` first');
  process.exit(1);
}
const env = { ...process.env };
// The host's extra CA bundle slows every Node start and has no place in tests.
delete env.NODE_EXTRA_CA_CERTS;
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
  env,
});
process.exit(r.status ?? 1);
