import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModelFolder } from '@qwen-vl/builder';
import { QwenVL } from '@qwen-vl/node';
import type { NodeDevice, QwenVLMessage } from '@qwen-vl/node';
import type { AccuracyLevel, ExecutionProvider } from '@qwen-vl/pipeline';
import sharp from 'sharp';
import { KINDS } from './task.js';
import type { Kind, Picture, Question } from './task.js';

export type Precision = 'fp32' | 'fp16' | 'int4';

export interface Answer {
  question: Question;
  text: string;
  correct: boolean;
}

export interface KindScore {
  kind: Kind | 'overall';
  correct: number;
  total: number;
  accuracy: number;
}

export async function png(picture: Picture): Promise<Uint8Array> {
  const { width, height, data } = picture;
  return new Uint8Array(
    await sharp(data, { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer(),
  );
}

/** The one user turn of a question: its pictures, its video, then its text. */
export async function questionMessages(question: Question): Promise<QwenVLMessage[]> {
  const content: Exclude<QwenVLMessage['content'], string>[number][] = [];
  for (const image of question.images) content.push({ type: 'image', image: await png(image) });
  if (question.video) content.push({ type: 'video', video: await Promise.all(question.video.map(png)), fps: 2 });
  content.push({ type: 'text', text: question.question });
  return [{ role: 'user', content }];
}

/** A reply to a question, scored: its trimmed text must equal the expected answer, and the generation must have ended with eos. */
export function answerOf(question: Question, reply: { text: string; finishReason: string }): Answer {
  const text = reply.text.trim();
  return { question, text, correct: text === question.answer && reply.finishReason === 'eos' };
}

/** Greedy answers of a built model folder to the questions; an answer counts when it equals the expected one exactly. */
export async function answerAll(model: QwenVL, questions: readonly Question[], onAnswer?: (answer: Answer, index: number) => void): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (const [i, question] of questions.entries()) {
    const answer = answerOf(question, await model.chat(await questionMessages(question), { greedy: true, repetitionPenalty: 1, maxNewTokens: 8 }));
    answers.push(answer);
    onAnswer?.(answer, i);
  }
  return answers;
}

export function score(answers: readonly Answer[]): KindScore[] {
  const rows: KindScore[] = [];
  for (const kind of [...KINDS, 'overall'] as const) {
    const mine = kind === 'overall' ? answers : answers.filter((a) => a.question.kind === kind);
    const correct = mine.filter((a) => a.correct).length;
    if (mine.length > 0) rows.push({ kind, correct, total: mine.length, accuracy: correct / mine.length });
  }
  return rows;
}

export function formatTable(rows: readonly KindScore[], label: string): string {
  const lines = [`accuracy (${label})`, 'kind      correct  total  accuracy'];
  for (const r of rows) lines.push(`${r.kind.padEnd(9)} ${String(r.correct).padStart(7)}  ${String(r.total).padStart(5)}  ${(100 * r.accuracy).toFixed(1).padStart(7)}%`);
  return lines.join('\n');
}

/**
 * Builds the Hugging Face folder `hfDir` at `precision`, shaped for `executionProvider`
 * (default: `device`'s own), into a temporary folder, loads it on `device`, answers the
 * questions and removes the build. Another provider's build shows what it computes (a `dml`
 * or `cuda` fp16 or int4 build computes in float16) on a device that opens it.
 */
export async function evaluateFolder(
  hfDir: string,
  questions: readonly Question[],
  options: { precision?: Precision; accuracyLevel?: AccuracyLevel; device?: NodeDevice; executionProvider?: ExecutionProvider; onAnswer?: (answer: Answer, index: number) => void } = {},
): Promise<Answer[]> {
  const work = await mkdtemp(join(tmpdir(), 'eval-shapes-'));
  try {
    const built = join(work, 'model');
    const device = options.device ?? 'cpu';
    await buildModelFolder(hfDir, built, { precision: options.precision ?? 'fp32', accuracyLevel: options.accuracyLevel, executionProvider: options.executionProvider ?? device });
    const model = await QwenVL.load(built, { device });
    try {
      return await answerAll(model, questions, options.onAnswer);
    } finally {
      await model.dispose();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
