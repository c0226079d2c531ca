import { isIP } from 'node:net';
import { BlobServiceClient, type StoragePipelineOptions } from '@azure/storage-blob';
import { CaptureNameFormat } from '../../core/captureNameFormat';
import { ConfigError } from '../../core/errors';
import { captureSettingsProblem, type Settings } from '../../config/settings';
import { azureCredential } from '../eventHubs/azureClients';
import { CaptureArchive } from './CaptureArchive';

type CaptureSettings = Pick<Settings, 'captureStorageConnectionString' | 'captureStorageUrl' | 'captureContainer' | 'captureNameFormat' | 'eventHubsConnectionString' | 'eventHubsNamespace' | 'eventHubName'>;

/** Whether Event Hubs Capture is to be read: a storage account for it is set. */
export function captureConfigured(settings: CaptureSettings): boolean {
  return settings.captureStorageConnectionString !== undefined || settings.captureStorageUrl !== undefined || settings.captureContainer !== undefined;
}

/**
 * The Capture files of the log's hub, from CAPTURE_STORAGE_CONNECTION_STRING or
 * CAPTURE_STORAGE_URL (with DefaultAzureCredential), CAPTURE_CONTAINER and CAPTURE_NAME_FORMAT;
 * undefined when Capture is not configured. Half a configuration is refused, naming what is missing.
 */
export function captureArchiveFrom(settings: CaptureSettings): CaptureArchive | undefined {
  if (!captureConfigured(settings)) return undefined;
  const problem = captureSettingsProblem(settings);
  if (problem) throw problem;
  const { captureStorageConnectionString: connectionString, captureStorageUrl: url, captureContainer: container } = settings;
  const pipeline: StoragePipelineOptions = { retryOptions: { maxTries: 5 } };
  const service = connectionString !== undefined
    ? BlobServiceClient.fromConnectionString(connectionString, pipeline)
    : new BlobServiceClient(url!, azureCredential(), pipeline);
  return new CaptureArchive(service.getContainerClient(container!), { namespace: namespaceName(settings), eventHub: settings.eventHubName }, CaptureNameFormat.parse(settings.captureNameFormat));
}

/**
 * The namespace as Capture names it in `{Namespace}`: the first label of its host
 * (`myns.servicebus.windows.net` → `myns`); an IP address or a single-label host stays whole.
 */
export function namespaceName(settings: Pick<Settings, 'eventHubsConnectionString' | 'eventHubsNamespace'>): string {
  const endpoint = settings.eventHubsConnectionString !== undefined
    ? /(?:^|;)\s*Endpoint=sb:\/\/([^;/]+)/i.exec(settings.eventHubsConnectionString)?.[1]
    : settings.eventHubsNamespace?.replace(/^sb:\/\//, '').replace(/\/.*$/, '');
  if (endpoint === undefined) throw new ConfigError('EVENTHUBS_CONNECTION_STRING', 'reading Event Hubs Capture needs the Event Hub: set EVENTHUBS_CONNECTION_STRING or EVENTHUBS_NAMESPACE');
  const host = endpoint.replace(/:\d+$/, '');
  return isIP(host) ? host : host.split('.')[0];
}
