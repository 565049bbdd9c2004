/**
 * The credential of an `Authorization: Bearer …` header, or undefined when the header is absent or
 * of another scheme. The scheme is case-insensitive (RFC 9110 §11.1); spaces and tabs around the
 * credential are dropped.
 */
export function bearerOf(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^bearer[ \t]+(\S.*)$/i.exec(header.trim());
  return m === null ? undefined : (m[1] as string).trim();
}
