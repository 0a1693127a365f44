export * from './server.js';
export * from './wire.js';
