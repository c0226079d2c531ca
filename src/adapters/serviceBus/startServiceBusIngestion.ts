import { lookup } from 'node:dns/promises';
import type { ServiceBusClient, ServiceBusClientOptions } from '@azure/service-bus';
import { SETTINGS, type Settings } from '../../config/settings';
import { ConfigError } from '../../core/errors';
import type { Ingestor } from '../../core/Ingestor';
import { ServiceBusIngestion, reportOnStderr, type ServiceBusIngestionOptions, type ServiceBusIngestionStats } from './ServiceBusIngestion';
import { serviceBusClientFrom, serviceBusHost, type ServiceBusSettings } from './serviceBusClientFrom';

export interface RunningServiceBusIngestion {
  readonly stats: Readonly<ServiceBusIngestionStats>;
  /** Stops the ingestion, then closes the client. */
  stop(): Promise<void>;
}

export interface StartServiceBusOptions {
  clientOptions?: ServiceBusClientOptions;
  ingestion?: Partial<Pick<ServiceBusIngestionOptions, 'maxLockRenewalMs' | 'retryBackoffMs' | 'maxRetryBackoffMs' | 'onError'>>;
  /** How long the start-up check may take before an unreachable namespace counts as an outage. */
  checkTimeoutMs?: number;
}

/**
 * Starts reading SPOC messages from Service Bus, for the composition root to call when
 * SERVICEBUS_CONNECTION_STRING or SERVICEBUS_NAMESPACE is set. A wrong setting stops start-up
 * with a ConfigError naming it: a malformed value, a host that does not resolve, a queue that
 * does not exist, refused credentials. Anything else (the namespace unreachable for now) is an
 * outage: it is reported and the receiver keeps retrying with backoff.
 */
export async function startServiceBusIngestion(
  settings: ServiceBusSettings & Pick<Settings, 'serviceBusConcurrency' | 'maxFutureSeconds'>,
  ingestor: Pick<Ingestor, 'ingest'>,
  options: StartServiceBusOptions = {},
): Promise<RunningServiceBusIngestion> {
  const client = serviceBusClientFrom(settings, options.clientOptions);
  const onError = options.ingestion?.onError ?? reportOnStderr;
  try {
    await checkQueue(client, settings, options.checkTimeoutMs ?? 30_000, onError);
  } catch (error) {
    await client.close();
    throw error;
  }
  const ingestion = new ServiceBusIngestion({ client, queue: settings.serviceBusQueue, ingestor, concurrency: settings.serviceBusConcurrency, maxFutureSeconds: settings.maxFutureSeconds, ...options.ingestion });
  ingestion.start();
  return {
    get stats() {
      return ingestion.stats;
    },
    async stop() {
      await ingestion.stop();
      await client.close();
    },
  };
}

/** Resolves the host and peeks one message: the queue exists and the credentials may read it. */
async function checkQueue(client: ServiceBusClient, settings: ServiceBusSettings, timeoutMs: number, onError: NonNullable<ServiceBusIngestionOptions['onError']>): Promise<void> {
  const credentialSetting = settings.serviceBusNamespace !== undefined ? SETTINGS.serviceBusNamespace.env : SETTINGS.serviceBusConnectionString.env;
  const host = serviceBusHost(settings);
  try {
    await lookup(host.replace(/:\d+$/, ''));
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOTFOUND') throw new ConfigError(credentialSetting, `${credentialSetting}: the host ${host} does not exist (DNS: ENOTFOUND)`);
  }
  const receiver = client.createReceiver(settings.serviceBusQueue);
  try {
    await receiver.peekMessages(1, { abortSignal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const { code, name, message } = error as { code?: string; name?: string; message?: string };
    if (code === 'MessagingEntityNotFound') {
      throw new ConfigError(SETTINGS.serviceBusQueue.env, `${SETTINGS.serviceBusQueue.env}: there is no queue ${JSON.stringify(settings.serviceBusQueue)} in ${host}`);
    }
    if (code === 'UnauthorizedAccess' || ['CredentialUnavailableError', 'AuthenticationError', 'AggregateAuthenticationError'].includes(name ?? '')) {
      throw new ConfigError(credentialSetting, `${credentialSetting}: ${host} did not accept the credentials: ${message}`);
    }
    onError(error, `cannot check the queue ${settings.serviceBusQueue} on ${host} now; the receiver keeps trying`);
  } finally {
    await receiver.close();
  }
}
