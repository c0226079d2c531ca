import { InvalidInputError } from '../core/errors';
import { withoutCredentials } from './connectionStrings';

/**
 * `OPSFOLD_CORS_ORIGINS`: `*`, or a comma-separated list of origins (scheme://host[:port], no path),
 * each written as a browser sends it in `Origin` (lower-case host, no default port), so that the
 * check per request is an exact comparison.
 */
export function parseCorsOrigins(raw: string, where: string): string[] {
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new InvalidInputError(`${where} must list origins such as https://grafana.example.com, or be *, got ${JSON.stringify(raw)}`);
  if (items.includes('*')) {
    if (items.length > 1) throw new InvalidInputError(`${where} must be * alone or a list of origins, got ${JSON.stringify(raw)}`);
    return ['*'];
  }
  return [...new Set(items.map((item) => origin(item, where)))];
}

function origin(item: string, where: string): string {
  const wrong = (why: string) => new InvalidInputError(`${where}: ${JSON.stringify(withoutCredentials(item))} is not an origin (${why}); write scheme://host[:port], e.g. https://grafana.example.com`);
  let url: URL;
  try {
    url = new URL(item);
  } catch {
    throw wrong('not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw wrong('only http and https');
  if (url.username !== '' || url.password !== '') throw wrong('no credentials');
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || /[?#]/.test(item) || /^[a-z]+:\/\/[^/]+\/./i.test(item)) throw wrong('no path, query or fragment');
  return url.origin;
}
