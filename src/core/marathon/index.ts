export * from './app.js';
export * from './constraints.js';
export * from './deployment.js';
export * from './path.js';
export * from './placement.js';
export * from './time.js';
export * from './checks.js';
export * from './group.js';
