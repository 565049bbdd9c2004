import { createHash, timingSafeEqual } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { ErrorCodes, isSystemChannel, patternCovers, TributaryError, isValidChannelOrPattern } from '@tributary/protocol';
import { Actions, type Action, type Grants, type Principal } from '@tributary/server';

// What a principal is (and the grants and actions it carries) is the server contract's; tokens,
// their verification and the grant checks are the broker's. Re-exported for the broker's index.
export { Actions };
export type { Action, Grants, Principal };

/** The principal every request gets in insecure mode. */
export const INSECURE_PRINCIPAL: Principal = Object.freeze({ admin: true, grants: Object.freeze({}) });

const ISSUER = 'tributary';
const MIN_SECRET_BYTES = 32;

/** Options of {@link createToken}. */
export interface CreateTokenOptions {
  /** The broker's HMAC secret (`auth.secret`). */
  secret: string;
  grants: Grants;
  /** Subject: a user, device or bot id; shown in presence. */
  sub?: string;
  /**
   * Lifetime in seconds.
   * @defaultValue 3600
   */
  ttlSeconds?: number;
}

/** Signs a token (a JWT, HS256) carrying grants and an expiry. */
export async function createToken(options: CreateTokenOptions): Promise<string> {
  assertSecret(options.secret, 'secret');
  validateGrants(options.grants);
  const ttl = options.ttlSeconds ?? 3600;
  if (!Number.isFinite(ttl) || ttl <= 0) throw new TypeError(`ttlSeconds must be positive, got ${ttl}`);
  const jwt = new SignJWT({ grants: options.grants })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000 + ttl));
  if (options.sub !== undefined) jwt.setSubject(options.sub);
  return jwt.sign(key(options.secret));
}

/**
 * Verifies a token or the server secret itself. The HMAC is checked by WebCrypto's `verify`
 * (constant-time), the secret by `timingSafeEqual` over digests (constant-time whatever the
 * lengths). Every failure is a TributaryError: TOKEN_EXPIRED or UNAUTHORIZED.
 */
export async function authenticate(credential: string | undefined, secret: string): Promise<Principal> {
  if (credential === undefined || credential === '') {
    throw new TributaryError(ErrorCodes.UNAUTHORIZED, 'credentials required: pass a token');
  }
  if (safeEqual(credential, secret)) return { admin: true, grants: {} };
  try {
    const { payload } = await jwtVerify(credential, key(secret), {
      issuer: ISSUER,
      algorithms: ['HS256'],
      requiredClaims: ['exp'],
    });
    const grants = payload.grants;
    validateGrants(grants);
    const principal: Principal = { admin: false, grants, expiresAt: (payload.exp as number) * 1000 };
    if (payload.sub !== undefined) principal.sub = payload.sub;
    return principal;
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) {
      throw new TributaryError(ErrorCodes.TOKEN_EXPIRED, 'token expired', { cause: err });
    }
    throw new TributaryError(ErrorCodes.UNAUTHORIZED, 'invalid token', { cause: err });
  }
}

/** True when `principal` may perform `action` on `channel` (a name, or a pattern for subscribe). */
export function can(principal: Principal, action: Action, channel: string): boolean {
  if (principal.admin) return true;
  if (principal.expiresAt !== undefined && principal.expiresAt <= Date.now()) return false;
  for (const [pattern, actions] of Object.entries(principal.grants)) {
    if (!actions.includes(action)) continue;
    // System channels ($dlq…, $objects…) are reachable only through grants that name them.
    if (isSystemChannel(channel) && !pattern.startsWith('$')) continue;
    if (patternCovers(pattern, channel)) return true;
  }
  return false;
}

/** Throws FORBIDDEN unless {@link can}. */
export function authorize(principal: Principal, action: Action, channel: string): void {
  if (principal.expiresAt !== undefined && principal.expiresAt <= Date.now()) {
    throw new TributaryError(ErrorCodes.TOKEN_EXPIRED, 'token expired', { channel });
  }
  if (!can(principal, action, channel)) {
    throw new TributaryError(ErrorCodes.FORBIDDEN, `no ${action} grant for ${channel}`, { channel });
  }
}

/** Throws a TypeError naming the problem when the secret is too short to be an HMAC key. */
export function assertSecret(secret: unknown, field: string): asserts secret is string {
  if (typeof secret !== 'string' || Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
    throw new TypeError(`${field} must be a string of at least ${MIN_SECRET_BYTES} bytes`);
  }
}

function validateGrants(grants: unknown): asserts grants is Grants {
  if (typeof grants !== 'object' || grants === null || Array.isArray(grants)) {
    throw new TypeError('grants must be an object of pattern → actions');
  }
  for (const [pattern, actions] of Object.entries(grants)) {
    if (!isValidChannelOrPattern(pattern)) throw new TypeError(`grant pattern ${JSON.stringify(pattern)} is invalid`);
    if (!Array.isArray(actions) || !actions.every((a) => (Actions as readonly string[]).includes(a))) {
      throw new TypeError(`grant actions for ${pattern} must be a list of ${Actions.join(', ')}`);
    }
  }
}

function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

function key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}
