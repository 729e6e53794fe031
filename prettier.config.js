// Prettier, set to the style the code already has. `pnpm format` writes, `pnpm format:check`
// (part of `pnpm test`) checks; what it skips is in .prettierignore (and .gitignore).
/** @type {import('prettier').Config} */
export default {
  singleQuote: true,
  semi: true,
  trailingComma: 'all',
  // Long lines are the house style. Measured on the tree of issue 9 with the rest of this
  // configuration: 200 reformats 83 files, 160 reformats 116, so 200.
  printWidth: 200,
  overrides: [
    {
      // JSON the way JSON.stringify writes it, which is how pnpm, npm, changesets and the code
      // already write package.json, tsconfig and turbo.json (one array element a line), so a
      // tool's rewrite never fails the check. It refuses comments in .json files.
      files: '*.json',
      options: { parser: 'json-stringify' },
    },
  ],
};
