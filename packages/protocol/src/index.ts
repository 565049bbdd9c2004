// The main entry is the wire entry plus the JSON Schemas and the frame parser, which only servers
// need. The names live in one list (wire.ts), so the two entries cannot drift apart; the client
// imports './wire' so browser bundles do not carry ajv.
export * from './wire.js';
export { clientFrameSchemas, parseClientFrame, depthExceeds, DEFAULT_MAX_DEPTH } from './schema.js';
export type { ParseResult } from './schema.js';
