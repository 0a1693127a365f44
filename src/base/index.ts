export * from './assert.js';
export * from './bytes.js';
export * from './clock.js';
export * from './queue.js';
export * from './random.js';
export * from './recordio.js';
export * from './result.js';
