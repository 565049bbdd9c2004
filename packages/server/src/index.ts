// The one server contract of the packages that serve HTTP on the broker's port (broker, images,
// runtime, console): route and principal types, body reader, JSON writer, Bearer credentials and
// the error code → status table. Layer 1: it knows the protocol and nothing else.
export { Actions } from './route.js';
export type { Action, Grants, Principal, HttpRoute } from './route.js';
export { readBody, readBodyBytes, REFUSED_BODY_DRAIN_BYTES } from './body.js';
export { json } from './json.js';
export { bearerOf } from './bearer.js';
export { HTTP_STATUS, httpStatusOf } from './status.js';
export type { HttpErrorCode } from './status.js';
