import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * The dashboard's Content-Security-Policy: its own scripts, styles and API only (no inline script or
 * style, no eval), the inline SVG favicon as a data: image, and never inside a frame (clickjacking).
 * Style changes made from script (element.style) are not inline styles and stay allowed.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The headers every answer carries: no MIME sniffing (a JSON body is never run as a script or page), and the policy above. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Frame-Options': 'DENY',
};

export function securityHeaders(): RequestHandler {
  return (_req: Request, res: Response, next: NextFunction) => {
    res.set(SECURITY_HEADERS);
    next();
  };
}
