export * from './names.js';
export * from './records.js';
export * from './zone.js';
