#!/usr/bin/env node
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { NODE_DEVICES } from '@qwen-vl/node';
import type { NodeDevice } from '@qwen-vl/node';
import { EXECUTION_PROVIDERS } from '@qwen-vl/pipeline';
import { evaluateFolder, formatTable, score } from './eval.js';
import type { Precision } from './eval.js';
import type { AccuracyLevel, ExecutionProvider } from '@qwen-vl/pipeline';
import { questionSet } from './task.js';

const USAGE = `Usage: pnpm eval [--model HF_DIR] [--device cpu|cuda|dml|webgpu ...] [--precision fp32|fp16|int4 ...]
                 [--accuracy-level 0-4 ...] [--execution-provider cpu|cuda|dml|webgpu]
                 [--per-kind N] [--seed S] [--json] [--verbose]

Answer accuracy of a Qwen2.5-VL shapes model (default models/tiny-shapes) on a held-out set drawn
with its own renderer and seed: N questions of each of the 7 kinds (default 50, seed 20261203).
The folder is built (qwen-vl build) at each precision given (int4: at each accuracy level given,
default 4), shaped for each device's own execution provider unless --execution-provider names
one (a cuda or dml fp16 or int4 build computes in float16; any device that opens it runs it),
run on each device given with greedy decoding, and the accuracy per question kind and overall
is printed per device and precision.
An answer is right when the generated text, trimmed, equals the expected answer and ends with
the end of turn.`;

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/tiny-shapes' },
    device: { type: 'string', multiple: true },
    precision: { type: 'string', multiple: true },
    'accuracy-level': { type: 'string', multiple: true },
    'execution-provider': { type: 'string' },
    'per-kind': { type: 'string', default: '50' },
    seed: { type: 'string', default: '20261203' },
    json: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const devices = (values.device ?? ['cpu']) as NodeDevice[];
const precisionFlags = values.precision ?? ['fp32'];
for (const p of precisionFlags) if (p !== 'fp32' && p !== 'fp16' && p !== 'int4') usage(`--precision must be fp32, fp16 or int4, got ${p}`);
const levelFlags = values['accuracy-level'] ?? ['4'];
for (const level of levelFlags) if (!/^[0-4]$/.test(level)) usage(`--accuracy-level must be 0, 1, 2, 3 or 4, got ${level}`);
/** Each build asked for: fp32 and fp16 once, int4 once per accuracy level. */
const builds = (precisionFlags as Precision[]).flatMap((precision): { precision: Precision; accuracyLevel: AccuracyLevel | undefined }[] =>
  precision === 'int4' ? levelFlags.map((level) => ({ precision, accuracyLevel: Number(level) as AccuracyLevel })) : [{ precision, accuracyLevel: undefined }],
);
for (const d of devices) if (!NODE_DEVICES.includes(d)) usage(`--device must be one of ${NODE_DEVICES.join(', ')}, got ${d}`);
const executionProvider = values['execution-provider'] as ExecutionProvider | undefined;
if (executionProvider !== undefined && !EXECUTION_PROVIDERS.includes(executionProvider)) usage(`--execution-provider must be one of ${EXECUTION_PROVIDERS.join(', ')}, got ${executionProvider}`);
const perKind = Number(values['per-kind']);
const seed = Number(values.seed);
if (!Number.isInteger(perKind) || perKind <= 0) usage('--per-kind must be a positive integer');
if (!Number.isInteger(seed)) usage('--seed must be an integer');

function usage(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

// pnpm runs package scripts in the package folder; paths given on the command line are the caller's.
const cwd = process.env.INIT_CWD ?? process.cwd();
const model = resolve(cwd, values.model);
const questions = questionSet(seed, perKind);
const report = [];
for (const { precision, accuracyLevel } of builds) {
  for (const device of devices) {
    const built = `${accuracyLevel === undefined ? precision : `${precision} accuracy level ${accuracyLevel}`}${executionProvider === undefined ? '' : ` (${executionProvider} build)`}`;
    const label = `${device} ${built}, ${questions.length} questions, seed ${seed}`;
    const started = Date.now();
    const answers = await evaluateFolder(model, questions, {
      precision,
      accuracyLevel,
      device,
      executionProvider,
      onAnswer: (a, i) => {
        if (values.verbose && !a.correct) console.error(`#${i} ${a.question.kind}: "${a.question.question}" expected ${a.question.answer}, got ${JSON.stringify(a.text)}`);
      },
    });
    const rows = score(answers);
    const seconds = (Date.now() - started) / 1000;
    report.push({ device, executionProvider: executionProvider ?? device, precision, accuracyLevel, seed, perKind, seconds, rows });
    if (!values.json) console.log(`${formatTable(rows, label)}\n(${seconds.toFixed(1)} s)\n`);
  }
}
if (values.json) console.log(JSON.stringify(report, null, 2));
