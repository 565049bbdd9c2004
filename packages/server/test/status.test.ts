import { ErrorCodes } from '@tributary/protocol';
import { describe, expect, it } from 'vitest';
import { HTTP_STATUS, httpStatusOf } from '../src/index.js';

describe('httpStatusOf', () => {
  it('has a status for every protocol code', () => {
    for (const code of Object.values(ErrorCodes)) expect(httpStatusOf(code), code).toBeTypeOf('number');
  });

  it('answers every code with a client or server error status', () => {
    for (const [code, status] of Object.entries(HTTP_STATUS)) {
      expect(Number.isInteger(status) && status >= 400 && status <= 599, code).toBe(true);
    }
  });

  it.each([
    // Codes more than one family uses: one status each.
    ['TIMEOUT', 504],
    ['NOT_FOUND', 404],
    ['FORBIDDEN', 403],
    ['UNAUTHORIZED', 401],
    ['UNSUPPORTED_MEDIA_TYPE', 415],
    ['PAYLOAD_TOO_LARGE', 413],
    ['HOP_LIMIT', 422],
    ['RATE_LIMITED', 429],
    // Protocol.
    ['BAD_JSON', 400],
    ['TOKEN_EXPIRED', 401],
    ['CLOSED', 503],
    ['UNAVAILABLE', 503],
    ['INTERNAL', 500],
    // Images.
    ['TOO_LARGE', 413],
    ['INPUT_TOO_LARGE', 422],
    ['TOKEN_INVALID', 401],
    ['BAD_SIGNATURE', 403],
    ['BACKEND_ERROR', 502],
    // Blocks: a bad bundle is the deployer's (422), a failed invocation the upstream's (502).
    ['COMPILE_ERROR', 422],
    ['INVALID_BLOCK', 422],
    ['HANDLER_ERROR', 502],
    ['RUNNER_EXITED', 502],
    ['BAD_RESULT', 502],
  ] as const)('%s is %i', (code, status) => {
    expect(httpStatusOf(code)).toBe(status);
  });
});
