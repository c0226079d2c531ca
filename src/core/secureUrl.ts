const LOOPBACK = /^(127(\.\d{1,3}){3}|localhost|\[::1\])$/i;

/** True when `url` is https, or plain http to a loopback address (a test double on this machine). */
export function isHttpsOrLoopback(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK.test(u.hostname));
  } catch {
    return false;
  }
}
