/**
 * HTTP/1.x: sniffing (sniff.ts), heads (head.ts), body framing (framing.ts) and the incremental stream parser
 * (parser.ts).
 */
export * from './sniff.js';
export { findHeadEnd, parseRequestHead, parseResponseHead, contentLengthText, ParsedRequestHead, ParsedResponseHead } from './head.js';
export * from './framing.js';
export * from './parser.js';
