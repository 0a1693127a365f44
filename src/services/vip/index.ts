export * from './vip.js';
