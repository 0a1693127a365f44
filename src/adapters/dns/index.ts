export * from './server.js';
export * from './wire.js';
export * from './forwarder.js';
