/**
 * `rows` under `header` as aligned columns, one string per line: the first column (the label)
 * left-aligned, the others right-aligned as numbers are, unless `textColumns` keeps them left.
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], { textColumns = false } = {}): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, c) => (c === 0 || textColumns ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** Prints `rows` under `header` as aligned columns: the first (the label) left-aligned, the numbers right-aligned. */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  for (const line of formatTable(header, rows)) console.log(line);
}
