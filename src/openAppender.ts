import { join } from 'node:path';
import { FileLog } from './adapters/fileLog/FileLog';
import type { Settings } from './config/settings';
import type { EventAppender } from './core/ports';
import { noteLogRepair } from './adapters/fileLog/repairTail';
import { eventHubsConfigured } from './config/settings';

/**
 * Only what appending needs: the Event Hub's producer when Event Hubs is configured, else the
 * file log. No Table Storage and no Azurite: `opsfold ingest` writes to the log, and the
 * projections (of a running service, or of the next replay) fold it from there. The Event Hubs
 * client is loaded only when it is used.
 */
export async function openAppender(settings: Settings): Promise<{ appender: EventAppender; close(): Promise<void> }> {
  if (eventHubsConfigured(settings)) {
    const { createProducer } = require('./adapters/eventHubs/azureClients') as typeof import('./adapters/eventHubs/azureClients');
    const { EventHubsAppender } = require('./adapters/eventHubs/EventHubsAppender') as typeof import('./adapters/eventHubs/EventHubsAppender');
    const producer = createProducer(settings, settings.eventHubName);
    return { appender: new EventHubsAppender(producer), close: () => producer.close() };
  }
  const log = await FileLog.open(join(settings.dataDir, 'log'), { onRepair: noteLogRepair });
  return { appender: log, close: () => log.close() };
}
