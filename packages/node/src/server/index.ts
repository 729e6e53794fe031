export { DEFAULT_MAX_BATCH, createServer } from './server.js';
export type { QwenVLServer, ServerOptions } from './server.js';
export { DEFAULT_LIMITS, limitFlag } from './limits.js';
export type { ServerLimits } from './limits.js';
