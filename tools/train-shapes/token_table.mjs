// Writes tokens.json: the Qwen2.5 token ids of every text the shapes task uses, encoded by
// this project's own tokenizer (@qwen-vl/preprocess), so the Python trainer needs no tokenizer.
// Usage (after `pnpm build`): node tools/train-shapes/token_table.mjs texts.json tokens.json
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { QwenTokenizer } = await import(resolve(root, 'packages/preprocess/dist/index.js'));
const tokenizerDir = resolve(root, 'testdata/golden/tiny/model');
const tokenizer = QwenTokenizer.fromJson(JSON.parse(readFileSync(resolve(tokenizerDir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(resolve(tokenizerDir, 'tokenizer_config.json'), 'utf8')));
const [input, output] = process.argv.slice(2);
const texts = JSON.parse(readFileSync(input, 'utf8'));
const table = {};
for (const text of texts) table[text] = Array.from(tokenizer.encode(text));
writeFileSync(output, JSON.stringify(table, null, 0) + '\n');
console.log(`${texts.length} texts -> ${output}`);
