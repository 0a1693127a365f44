export * from './hierarchical.js';
export * from './types.js';
