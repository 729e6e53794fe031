export { COLORS, COLOR_NAMES, KINDS, KIND_DESCRIPTIONS, Random, SHAPES, questionSet, render, sampleQuestion } from './task.js';
export type { Color, Kind, Picture, Question, Shape } from './task.js';
export { answerAll, answerOf, evaluateFolder, formatTable, png, questionMessages, score } from './eval.js';
export type { Answer, KindScore, Precision } from './eval.js';
