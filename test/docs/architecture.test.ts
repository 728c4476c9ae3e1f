import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';

const ROOT = new URL('../../', import.meta.url);
const PAGE = 'docs/architecture.md';

test('docs/architecture.md names only folders and files that exist, and every folder of src/', () => {
  const text = readFileSync(new URL(PAGE, ROOT), 'utf8');
  const named = [...text.matchAll(/`((?:src|test|harness|bench|demo|rollout|docs|charts)\/[^`\s]*)`/g)].map((match) => match[1]);
  assert.ok(named.length > 20, `${named.length} paths named`);
  const missing = named.filter((path) => !existsSync(new URL(path, ROOT)));
  assert.deepEqual(missing, [], `named in ${PAGE} but not in the tree`);
  const folders = new Set(named.filter((path) => path.startsWith('src/') && path.endsWith('/')));
  const unnamed = readdirFolders('src').filter((folder) => !folders.has(`src/${folder}/`));
  assert.deepEqual(unnamed, [], `folders of src/ the layout table leaves out`);
});

function readdirFolders(path: string): string[] {
  return readdirSync(new URL(path, ROOT), { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
}
