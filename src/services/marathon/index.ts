export * from './marathon.js';
export * from './transport.js';
