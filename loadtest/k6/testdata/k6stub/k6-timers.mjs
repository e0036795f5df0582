import { schedule, cancel } from './runtime.mjs';

export const setTimeout = (fn, ms) => schedule(fn, ms);
export const setInterval = (fn, ms) => schedule(fn, ms, Math.max(1, ms));
export const clearTimeout = cancel;
export const clearInterval = cancel;
