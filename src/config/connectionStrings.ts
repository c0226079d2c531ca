/**
 * Shape checks of the connection strings opsfold is given, done once when settings load, so that a
 * malformed one stops the command with a message naming its setting (and never its value: they hold
 * keys) instead of an SDK's TypeError later. The SDKs still parse them; this only catches what they
 * would choke on.
 */

/** `a=b;c=d` as a map with lower-cased keys; values keep their case and any `=` inside them. */
function pairs(value: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of value.split(';')) {
    const at = part.indexOf('=');
    if (at <= 0) continue;
    map.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  return map;
}

const isHttpUrl = (value: string | undefined): boolean => value !== undefined && /^https?:\/\/[^/\s]+/i.test(value);

/**
 * Why `value` is not a Storage account connection string for `service` (table or blob), or
 * undefined when it is one: development storage, an account name and key with a protocol or the
 * service's endpoint, or a shared access signature with the service's endpoint.
 */
export function storageConnectionStringProblem(value: string, service: 'table' | 'blob'): string | undefined {
  const p = pairs(value);
  if (p.size === 0) return 'it has no Key=Value; pairs';
  if (p.get('usedevelopmentstorage')?.toLowerCase() === 'true') return undefined;
  const endpointKey = service === 'table' ? 'tableendpoint' : 'blobendpoint';
  const endpointName = service === 'table' ? 'TableEndpoint' : 'BlobEndpoint';
  const endpoint = p.get(endpointKey);
  if (endpoint !== undefined && !isHttpUrl(endpoint)) return `its ${endpointName} is not an http(s) URL`;
  if (p.has('sharedaccesssignature')) return endpoint === undefined ? `a SharedAccessSignature needs a ${endpointName}` : undefined;
  if (!p.get('accountname')) return 'it has no AccountName';
  if (!p.get('accountkey')) return 'it has no AccountKey (or SharedAccessSignature)';
  const protocol = p.get('defaultendpointsprotocol')?.toLowerCase();
  if (protocol !== undefined && protocol !== 'https' && protocol !== 'http') return 'its DefaultEndpointsProtocol must be https or http';
  if (protocol === undefined && endpoint === undefined) return `it needs DefaultEndpointsProtocol=https or a ${endpointName}`;
  return undefined;
}

/** Why `value` is not an Event Hubs or Service Bus namespace connection string, or undefined. */
export function messagingConnectionStringProblem(value: string): string | undefined {
  const p = pairs(value);
  if (p.size === 0) return 'it has no Key=Value; pairs';
  const endpoint = p.get('endpoint');
  if (endpoint === undefined) return 'it has no Endpoint=sb://…';
  if (!/^sb:\/\/[^/\s]+/i.test(endpoint)) return 'its Endpoint must start with sb://';
  if (p.has('sharedaccesssignature')) return undefined;
  if (!p.get('sharedaccesskeyname')) return 'it has no SharedAccessKeyName (or SharedAccessSignature)';
  if (!p.get('sharedaccesskey')) return 'it has no SharedAccessKey';
  return undefined;
}

/** A URL with any user:password@ replaced, fit for a message. */
export function withoutCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, '$1***@');
}
