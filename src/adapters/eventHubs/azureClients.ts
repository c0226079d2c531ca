import { createHash } from 'node:crypto';
import { EventHubConsumerClient, EventHubProducerClient, type CheckpointStore, type EventHubConsumerClientOptions } from '@azure/event-hubs';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { BlobServiceClient, type StoragePipelineOptions } from '@azure/storage-blob';
import { ConfigError } from '../../core/errors';
import type { Settings } from '../../config/settings';

/**
 * The Azure clients of the distributed mode, each from its connection string or else from its
 * endpoint with `DefaultAzureCredential` (managed identity in Azure). A missing or malformed
 * setting stops start-up with a message that names it.
 */

/** Whether the log is an Event Hub (a connection string or a namespace is set). */
import { eventHubsConfigured } from '../../config/settings';

export { eventHubsConfigured };

let credential: TokenCredential | undefined;
/** One DefaultAzureCredential for the process (it caches tokens). */
export function azureCredential(): TokenCredential {
  credential ??= new DefaultAzureCredential();
  return credential;
}

function namespaceHost(namespace: string): string {
  const host = namespace.replace(/^sb:\/\//, '').replace(/\/.*$/, '');
  if (!/^[A-Za-z0-9.-]+(:\d+)?$/.test(host)) {
    throw new ConfigError('EVENTHUBS_NAMESPACE', `EVENTHUBS_NAMESPACE must be a host name such as NAME.servicebus.windows.net, got ${JSON.stringify(namespace)}`);
  }
  return host.includes('.') || host.includes(':') ? host : `${host}.servicebus.windows.net`;
}

function requireEventHubs(settings: Settings): void {
  if (!eventHubsConfigured(settings)) throw new ConfigError('EVENTHUBS_CONNECTION_STRING', 'set EVENTHUBS_CONNECTION_STRING or EVENTHUBS_NAMESPACE to use Event Hubs');
  const cs = settings.eventHubsConnectionString;
  if (cs !== undefined && !/(^|;)\s*Endpoint=sb:\/\//i.test(cs)) {
    throw new ConfigError('EVENTHUBS_CONNECTION_STRING', 'EVENTHUBS_CONNECTION_STRING must contain Endpoint=sb://…');
  }
}

export function createProducer(settings: Settings, eventHubName: string): EventHubProducerClient {
  requireEventHubs(settings);
  const retryOptions = { maxRetries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 10_000 };
  return settings.eventHubsConnectionString !== undefined
    ? new EventHubProducerClient(settings.eventHubsConnectionString, eventHubName, { retryOptions })
    : new EventHubProducerClient(namespaceHost(settings.eventHubsNamespace!), eventHubName, azureCredential(), { retryOptions });
}

export function createConsumer(settings: Settings, checkpointStore: CheckpointStore | undefined, options: EventHubConsumerClientOptions = {}): EventHubConsumerClient {
  requireEventHubs(settings);
  // Greedy: an instance takes every expired partition at once (a crashed one's, after the expiration), and its fair share of the rest.
  const loadBalancingOptions = {
    strategy: 'greedy' as const,
    updateIntervalInMs: settings.loadBalancingIntervalSeconds * 1000,
    partitionOwnershipExpirationIntervalInMs: settings.ownershipExpirationSeconds * 1000,
  };
  const all: EventHubConsumerClientOptions = { retryOptions: { maxRetries: 5, retryDelayInMs: 500, maxRetryDelayInMs: 30_000 }, loadBalancingOptions, ...options };
  const { eventHubName, eventHubConsumerGroup: group } = settings;
  if (settings.eventHubsConnectionString !== undefined) {
    return checkpointStore
      ? new EventHubConsumerClient(group, settings.eventHubsConnectionString, eventHubName, checkpointStore, all)
      : new EventHubConsumerClient(group, settings.eventHubsConnectionString, eventHubName, all);
  }
  const host = namespaceHost(settings.eventHubsNamespace!);
  return checkpointStore
    ? new EventHubConsumerClient(group, host, eventHubName, azureCredential(), checkpointStore, all)
    : new EventHubConsumerClient(group, host, eventHubName, azureCredential(), all);
}

/** The Blob checkpoint store of one pair of projection versions (its own container, created if missing). */
export async function createCheckpointStore(settings: Settings, container: string): Promise<CheckpointStore> {
  const pipeline: StoragePipelineOptions = { retryOptions: { maxTries: 5 } };
  let service: BlobServiceClient;
  if (settings.checkpointStorageConnectionString !== undefined) {
    service = BlobServiceClient.fromConnectionString(settings.checkpointStorageConnectionString, pipeline);
  } else if (settings.checkpointStorageUrl !== undefined) {
    if (!/^https:\/\//i.test(settings.checkpointStorageUrl)) throw new ConfigError('CHECKPOINT_STORAGE_URL', 'CHECKPOINT_STORAGE_URL must be an https:// Blob Storage URL');
    service = new BlobServiceClient(settings.checkpointStorageUrl, azureCredential(), pipeline);
  } else {
    throw new ConfigError('CHECKPOINT_STORAGE_CONNECTION_STRING', 'Event Hubs needs a checkpoint store: set CHECKPOINT_STORAGE_CONNECTION_STRING or CHECKPOINT_STORAGE_URL');
  }
  const client = service.getContainerClient(container);
  await client.createIfNotExists();
  return new BlobCheckpointStore(client);
}

/**
 * A container name for one set of projection versions: lower-case letters, digits and hyphens.
 * The declared projections run beside the built-in ones are named by a digest of their names and
 * versions (NAME-wN-rN-bN-dDIGEST), so that any change of them gets a container of its own.
 */
export function checkpointContainerFor(base: string, versions: { windows: number; rejects: number; backlog: number }, declared: readonly { name: string; version: number }[] = []): string {
  const digest = declared.length === 0 ? '' : `-d${createHash('sha256').update(JSON.stringify(declared.map((d) => `${d.name}@${d.version}`).sort())).digest('hex').slice(0, 12)}`;
  const name = `${base}-w${versions.windows}-r${versions.rejects}-b${versions.backlog}${digest}`.toLowerCase();
  if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(name)) {
    throw new ConfigError('CHECKPOINT_CONTAINER', `CHECKPOINT_CONTAINER ${JSON.stringify(base)} does not make a valid container name (${name}): use lower-case letters, digits and single hyphens`);
  }
  return name;
}
