/**
 * The explorer's one credential: a token (32 hex digits, random unless the user gives one). A request carries it as
 * `?token=` (the first load: answered with an HttpOnly SameSite=Strict cookie, so the token can leave the address
 * bar), the cookie, or `Authorization: Bearer TOKEN`. Comparison is constant-time.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const COOKIE_NAME = 'wirelog_token';

export function newToken(): string {
  return randomBytes(16).toString('hex');
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a), y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The cookie header's value of `name`, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export type AuthResult =
  /** authenticated; `setCookie` when the token came in the query (the response sets the cookie) */
  | { ok: true; setCookie: boolean }
  | { ok: false };

/** Does this request carry the token? */
export function checkAuth(req: IncomingMessage, url: URL, token: string): AuthResult {
  const q = url.searchParams.get('token');
  if (q !== null && sameToken(q, token)) return { ok: true, setCookie: true };
  const auth = req.headers.authorization;
  if (auth !== undefined && /^Bearer\s+/i.test(auth) && sameToken(auth.replace(/^Bearer\s+/i, '').trim(), token)) return { ok: true, setCookie: false };
  const c = cookieValue(req.headers.cookie, COOKIE_NAME);
  if (c !== undefined && sameToken(c, token)) return { ok: true, setCookie: false };
  return { ok: false };
}

export function authCookie(token: string): string {
  return `${COOKIE_NAME}=${token}; HttpOnly; SameSite=Strict; Path=/`;
}
