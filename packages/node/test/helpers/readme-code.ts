/** A fenced TypeScript block (```ts or ```typescript) of a Markdown file. */
export interface CodeBlock {
  /** The line of the opening fence (1-based). */
  readonly line: number;
  readonly code: string;
  /** Why the block is not run, from a `<!-- not run: REASON -->` line just above it; undefined for a block to run. */
  readonly notRun: string | undefined;
}

const FENCE = /^```(\S*)/;
const TYPESCRIPT = new Set(['ts', 'typescript']);
const NOT_RUN = /^<!-- not run: (.+?) -->$/;

/**
 * The TypeScript blocks of `markdown`, in order. Fences of other languages are skipped
 * whole, so a fence line shown inside them does not open a block.
 */
export function typeScriptBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const language = FENCE.exec(lines[i])?.[1];
    if (language === undefined) continue;
    const start = i;
    do i++;
    while (i < lines.length && lines[i] !== '```');
    if (!TYPESCRIPT.has(language)) continue;
    let above = start - 1;
    while (above >= 0 && lines[above].trim() === '') above--;
    blocks.push({
      line: start + 1,
      code: lines.slice(start + 1, i).join('\n'),
      notRun: above >= 0 ? NOT_RUN.exec(lines[above])?.[1] : undefined,
    });
  }
  return blocks;
}
