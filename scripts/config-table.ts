/** Rewrites the configuration table in README.md from the config schema (`npm run docs:config`). */
import { readFileSync, writeFileSync } from 'node:fs';
import { withConfigurationTable } from '../src/config/table.ts';

const path = new URL('../README.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = withConfigurationTable(before);
if (after !== before) writeFileSync(path, after);
process.stdout.write(after === before ? 'README.md configuration table is up to date\n' : 'README.md configuration table rewritten\n');
