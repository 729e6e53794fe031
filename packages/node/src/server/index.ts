export { createServer } from './server.js';
export type { QwenVLServer, ServerOptions } from './server.js';
export { DEFAULT_LIMITS } from './limits.js';
export type { ServerLimits } from './limits.js';
