import { DefaultAzureCredential } from '@azure/identity';
import { ServiceBusClient, parseServiceBusConnectionString, type ServiceBusClientOptions } from '@azure/service-bus';
import { SETTINGS, type Settings } from '../../config/settings';
import { ConfigError } from '../../core/errors';

export type ServiceBusSettings = Pick<Settings, 'serviceBusConnectionString' | 'serviceBusNamespace' | 'serviceBusQueue'>;

const CONNECTION_STRING = SETTINGS.serviceBusConnectionString.env;
const NAMESPACE = SETTINGS.serviceBusNamespace.env;
const QUEUE = SETTINGS.serviceBusQueue.env;
const HOST_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/**
 * A ServiceBusClient from SERVICEBUS_CONNECTION_STRING, or from SERVICEBUS_NAMESPACE signed in
 * with DefaultAzureCredential (managed identity on Azure). Exactly one of the two must be set;
 * a malformed value is a ConfigError naming its setting (never echoing the key).
 */
export function serviceBusClientFrom(settings: ServiceBusSettings, options: ServiceBusClientOptions = {}): ServiceBusClient {
  const { serviceBusConnectionString: connectionString, serviceBusNamespace: namespace } = settings;
  if (connectionString !== undefined && namespace !== undefined) {
    throw new ConfigError(NAMESPACE, `set ${CONNECTION_STRING} or ${NAMESPACE}, not both (${NAMESPACE} is ${JSON.stringify(namespace)})`);
  }
  if (connectionString !== undefined) return fromConnectionString(connectionString, settings.serviceBusQueue, options);
  if (namespace !== undefined) return new ServiceBusClient(namespaceHost(namespace), new DefaultAzureCredential(), options);
  throw new ConfigError(CONNECTION_STRING, `set ${CONNECTION_STRING} or ${NAMESPACE} to read SPOC messages from Service Bus`);
}

/** The host the settings point at, for messages. */
export function serviceBusHost(settings: ServiceBusSettings): string {
  if (settings.serviceBusNamespace !== undefined) return namespaceHost(settings.serviceBusNamespace);
  return parseServiceBusConnectionString(settings.serviceBusConnectionString ?? '').fullyQualifiedNamespace;
}

function fromConnectionString(connectionString: string, queue: string, options: ServiceBusClientOptions): ServiceBusClient {
  const malformed = (why: string) => new ConfigError(CONNECTION_STRING, `${CONNECTION_STRING} is not a Service Bus connection string: ${why}`);
  let parsed;
  try {
    parsed = parseServiceBusConnectionString(connectionString);
  } catch (error) {
    throw malformed((error as Error).message);
  }
  if (!/^sb:\/\//i.test(parsed.endpoint)) throw malformed(`its Endpoint must start with sb://, got ${JSON.stringify(parsed.endpoint)}`);
  if (parsed.entityPath !== undefined && parsed.entityPath !== queue) {
    throw new ConfigError(QUEUE, `${CONNECTION_STRING} is scoped to the queue ${JSON.stringify(parsed.entityPath)} (EntityPath) but ${QUEUE} is ${JSON.stringify(queue)}`);
  }
  try {
    return new ServiceBusClient(connectionString, options);
  } catch (error) {
    throw malformed((error as Error).message);
  }
}

/** Accepts `myns.servicebus.windows.net`, also written `sb://myns.servicebus.windows.net/`. */
function namespaceHost(value: string): string {
  const host = value.trim().replace(/^sb:\/\//i, '').replace(/\/$/, '');
  const labels = host.split('.');
  if (labels.length >= 2 && host.length <= 253 && labels.every((label) => HOST_LABEL.test(label))) return host;
  const hint = HOST_LABEL.test(host) ? ` (did you mean ${host}.servicebus.windows.net?)` : '';
  throw new ConfigError(NAMESPACE, `${NAMESPACE} must be the namespace's host name, like myns.servicebus.windows.net, got ${JSON.stringify(value)}${hint}`);
}
