/** Tables of figures for the console and for markdown docs (the first column a label, the others right-aligned), and tallies. */

export function consoleTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => row[column].length)));
  return all.map((row) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ')).join('\n');
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, column) => (column === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

/** `value` with `digits` decimals, 'n/a' when there is none. */
export function fixed(value: number | undefined, digits: number): string {
  return value === undefined || Number.isNaN(value) ? 'n/a' : value.toFixed(digits);
}

/** How often each key occurs among `items`, in the order first seen. */
export function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

/** `key xN, key xN` (`between` key and count instead of ' x'), or '' for no items. */
export function tally<T>(items: readonly T[], key: (item: T) => string, between = ' x'): string {
  return [...countBy(items, key)].map(([name, count]) => `${name}${between}${count}`).join(', ');
}
