import { describe, expect, it } from 'vitest';
import { bearerOf } from '../src/index.js';

describe('bearerOf', () => {
  it.each([
    ['Bearer abc.def', 'abc.def'],
    ['bearer abc', 'abc'],
    ['BEARER abc', 'abc'],
    ['Bearer\tabc', 'abc'],
    ['  Bearer   abc  ', 'abc'],
    ['Bearer a b', 'a b'],
  ])('reads the credential of %j (the scheme is case-insensitive, RFC 9110 §11.1)', (header, credential) => {
    expect(bearerOf(header)).toBe(credential);
  });

  it.each([[undefined], [''], ['Bearer'], ['Bearer   '], ['Basic dXNlcjpwYXNz'], ['Bearerabc'], ['Token abc']])(
    'finds no credential in %j',
    (header) => {
      expect(bearerOf(header)).toBeUndefined();
    },
  );
});
