export * from './edgelb.js';
export * from './nft.js';
export * from './range.js';
export * from './table.js';
