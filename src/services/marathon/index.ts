export * from './marathon.js';
export * from './transport.js';
export * from './health.js';
