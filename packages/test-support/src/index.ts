export * from './golden-cases.js';
export * from './golden.js';
export * from './errors.js';
export * from './genai-config-schema.js';
