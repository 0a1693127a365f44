export * from './ranges.js';
export * from './resources.js';
