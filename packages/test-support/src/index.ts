export * from './golden-cases.js';
export * from './golden.js';
export * from './errors.js';
