import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, cp, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModelFolder } from '@qwen-vl/builder';
import { MODEL_DIR, goldenImage } from '@qwen-vl/test-support';
import { typeScriptBlocks } from './helpers/readme-code.js';
import type { CodeBlock } from './helpers/readme-code.js';
import { useTempDir } from './helpers/temp-dir.js';

/**
 * The READMEs' TypeScript examples, type-checked and run as written, as a user's project
 * would run them: in a folder (the stage) holding the files they name and a node_modules
 * with the workspace's packages. packages/node/README.md says so above its examples.
 */
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const READMES = ['packages/node/README.md', 'README.md'];

/** The checkpoint the examples name: in the stage, a copy of the golden tiny model. */
const CHECKPOINT = 'models/Qwen2.5-VL-3B-Instruct';
/** The built folder the examples name: in the stage, the golden tiny model's build. */
const BUILT = 'models/qwen2.5-vl-3b-onnx';
/** The images the examples name, and the golden images that stand in for them. */
const IMAGES: Readonly<Record<string, string>> = {
  'cat.jpg': goldenImage('checker_640x480.jpg'),
  'photos/cat.jpg': goldenImage('checker_640x480.jpg'),
  'photos/dog.png': goldenImage('gradient_300x200.png'),
};

interface Example extends CodeBlock {
  /** `file:line` of the opening fence. */
  readonly where: string;
  /** The block's file in the stage. */
  readonly source: string;
}

const examples: Example[] = READMES.flatMap((readme) =>
  typeScriptBlocks(readFileSync(join(REPO, readme), 'utf8')).map((block) => ({
    ...block,
    where: `${readme}:${block.line}`,
    source: `examples/${readme.replaceAll('/', '_').replace(/\.md$/, '')}_${block.line}.ts`,
  })),
);
const runnable = examples.filter((example) => example.notRun === undefined);
const notRun = examples.filter((example) => example.notRun !== undefined);

const dir = useTempDir('qwen-vl-readme-');
let stage: string;
/** Type errors of each runnable example, formatted, by its stage file. */
const typeErrors = new Map<string, string[]>();

/** Packages the examples import besides the workspace's, as a user installs them: `qwen-vl serve`'s example calls it with the OpenAI client. */
const EXAMPLE_DEPENDENCIES = ['openai'];

/** Links every workspace package, and the examples' other dependencies, into the stage's node_modules, as an install would. */
async function linkWorkspacePackages(stageDir: string): Promise<void> {
  const packages = join(REPO, 'packages');
  for (const name of await readdir(packages)) {
    const manifest = JSON.parse(await readFile(join(packages, name, 'package.json'), 'utf8')) as { name: string };
    const link = join(stageDir, 'node_modules', manifest.name);
    await mkdir(dirname(link), { recursive: true });
    await symlink(join(packages, name), link, 'dir');
  }
  // packages/node has them as devDependencies.
  for (const name of EXAMPLE_DEPENDENCIES) await symlink(join(REPO, 'packages/node/node_modules', name), join(stageDir, 'node_modules', name), 'dir');
}

/** Type-checks the examples as one ES module each and writes their JavaScript beside them. */
function compileExamples(stageDir: string): void {
  const program = ts.createProgram(
    runnable.map((example) => join(stageDir, example.source)),
    {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [join(REPO, 'node_modules/@types')],
    },
  );
  // Reported as `examples/<readme>_<fence line>.ts(<line in the block>,<column>): error ...`.
  const host = { getCanonicalFileName: (name: string) => name, getCurrentDirectory: () => stageDir, getNewLine: () => '\n' };
  for (const example of runnable) {
    const diagnostics = ts.getPreEmitDiagnostics(program, program.getSourceFile(join(stageDir, example.source)));
    typeErrors.set(
      example.source,
      diagnostics.map((diagnostic) => ts.formatDiagnostic(diagnostic, host).trim()),
    );
  }
  program.emit();
}

beforeAll(async () => {
  stage = dir();
  await cp(MODEL_DIR, join(stage, CHECKPOINT), { recursive: true });
  await buildModelFolder(MODEL_DIR, join(stage, BUILT));
  for (const [name, image] of Object.entries(IMAGES)) {
    await mkdir(dirname(join(stage, name)), { recursive: true });
    await copyFile(image, join(stage, name));
  }
  await linkWorkspacePackages(stage);
  await writeFile(join(stage, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  await mkdir(join(stage, 'examples'));
  for (const example of runnable) await writeFile(join(stage, example.source), example.code);
  compileExamples(stage);
});

/** Runs an example's compiled JavaScript with Node, in the stage. */
function runExample(example: Example): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = join(stage, example.source.replace(/\.ts$/, '.js'));
  return new Promise((resolve) => {
    execFile(process.execPath, [script], { cwd: stage, maxBuffer: 64 * 2 ** 20 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

async function expectToRun(example: Example): Promise<string> {
  expect(typeErrors.get(example.source)).toEqual([]);
  const result = await runExample(example);
  expect(result.code, `${example.where} failed:\n${result.stderr}`).toBe(0);
  return result.stdout;
}

/**
 * The multi-turn chat example: its second turn must come from the first turn's cache. The
 * tiny model's answers are noise, and noise need not tokenize back into the tokens generated
 * (its 256-token answer here does not, from token 86 on), which rules the cache out; a real
 * model's text does. The example's first answer, 64 tokens for one sentence, stays below that.
 */
const multiTurn = runnable.find((example) => example.code.includes('followUp.cachedPromptTokens'));

describe('README examples', { timeout: 120_000 }, () => {
  it('finds the examples: packages/node/README.md has runnable ones, the multi-turn chat among them', () => {
    expect(runnable.filter((example) => example.where.startsWith('packages/node/'))).not.toEqual([]);
    expect(multiTurn).toBeDefined();
  });

  it.each(runnable.filter((example) => example !== multiTurn).map((example) => [example.where, example] as const))('%s type-checks and runs', async (_where, example) => {
    await expectToRun(example);
  });

  it(`${multiTurn?.where}: the multi-turn chat runs, and its second turn reuses the first turn's KV cache`, async () => {
    const stdout = await expectToRun(multiTurn!);
    const reuse = /^(\d+) of (\d+) prompt tokens came from the cache$/m.exec(stdout);
    expect(reuse, stdout).not.toBeNull();
    const [cached, total] = [Number(reuse![1]), Number(reuse![2])];
    expect(cached).toBeGreaterThan(0);
    expect(cached).toBeLessThan(total);
  });

  // Blocks marked `<!-- not run: REASON -->` are listed, and counted, as skipped.
  it.skip.each(notRun.map((example) => [example.where, example.notRun] as const))('%s is not run: %s', () => {});
});

describe('typeScriptBlocks', () => {
  it('finds ts and typescript fences with their lines, skips other fences whole, and reads the not-run mark', () => {
    const markdown = [
      '# Title',
      '```ts',
      'const a = 1;',
      '```',
      '```sh',
      '```ts',
      'echo not a block',
      '```',
      '<!-- not run: needs a CUDA device -->',
      '',
      '```typescript',
      'const b = 2;',
      'const c = 3;',
      '```',
    ].join('\n');
    expect(typeScriptBlocks(markdown)).toEqual([
      { line: 2, code: 'const a = 1;', notRun: undefined },
      { line: 11, code: 'const b = 2;\nconst c = 3;', notRun: 'needs a CUDA device' },
    ]);
  });
});
