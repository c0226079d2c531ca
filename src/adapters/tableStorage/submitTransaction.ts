import { randomUUID } from 'node:crypto';
import type { TableClient, TableEntity, TransactionAction } from '@azure/data-tables';
import { createDefaultHttpClient, createHttpHeaders, createPipelineRequest, RestError, type HttpClient, type PipelineResponse } from '@azure/core-rest-pipeline';

/**
 * `client.submitTransaction(actions)` for the two actions our tables send, replace-mode upserts and
 * deletes, with the request body assembled in one pass. The SDK runs each action of a transaction
 * through an HTTP pipeline of its own to capture it as text, ~50 µs of CPU an entity: a rebuild
 * sends thousands of blocks while its fold needs the same core. The request is the SDK's, byte for
 * byte but its random boundaries (test/unit/submitTransaction.unit.spec.ts compares the two), and it
 * goes out through the client's own pipeline (authentication, date, request id); a failure is the
 * RestError the SDK would throw, with the status and code of the action that failed.
 *
 * @example
 * await submitTransaction(client, [['upsert', { partitionKey: 'p', rowKey: 'r', n: 1 }, 'Replace'], ['delete', { partitionKey: 'p', rowKey: 'old' }]]);
 */
export async function submitTransaction(
  client: TableClient,
  actions: readonly TransactionAction[],
  { allowInsecureConnection = false, httpClient = sharedHttpClient() }: { allowInsecureConnection?: boolean; httpClient?: HttpClient } = {},
): Promise<void> {
  const batch = `batch_${randomUUID()}`;
  const changeset = `changeset_${randomUUID()}`;
  // A SAS in the client's URL signs the batch request, not the operations inside it.
  const [base, sas] = splitQuery(client.url);
  const tableUrl = `${base.endsWith('/') ? base : `${base}/`}${encodeURIComponent(client.tableName)}`;
  const parts = [`--${batch}\r\ncontent-type: multipart/mixed; boundary=${changeset}\r\n\r\n`];
  for (const action of actions) parts.push(operationOf(action, changeset, tableUrl));
  const body = `${parts.join('\r\n')}\r\n--${changeset}--\r\n--${batch}--\r\n`;
  const request = createPipelineRequest({
    url: `${base.endsWith('/') ? base : `${base}/`}$batch${sas}`,
    method: 'POST',
    body,
    headers: createHttpHeaders({
      accept: 'application/json',
      'x-ms-version': '2019-02-02',
      DataServiceVersion: '3.0;',
      MaxDataServiceVersion: '3.0;NetFx',
      'Content-Type': `multipart/mixed; boundary=${batch}`,
      'Accept-Charset': 'UTF-8',
      Connection: 'Keep-Alive',
    }),
    allowInsecureConnection,
  });
  const response = await client.pipeline.sendRequest(httpClient, request);
  const text = response.bodyAsText ?? '';
  if (response.status < 200 || response.status >= 300) throw failure(text, response.status, response);
  for (const part of text.split('--changesetresponse_').slice(1, -1)) {
    const status = Number(/HTTP\/1.1 ([0-9]*)/.exec(part)?.[1]);
    const error = /\{(.*)\}/.exec(part);
    if (error) throw failure(error[0], status, response);
  }
}

let httpClient: HttpClient | undefined;
const sharedHttpClient = (): HttpClient => (httpClient ??= createDefaultHttpClient());

function splitQuery(url: string): [string, string] {
  const at = url.indexOf('?');
  return at < 0 ? [url, ''] : [url.slice(0, at), url.slice(at)];
}

/** One action of the changeset: its request line, headers and body, as the SDK writes them. */
function operationOf([kind, entity, mode]: TransactionAction, changeset: string, tableUrl: string): string {
  const url = `${tableUrl}(PartitionKey='${keyInUrl(entity.partitionKey)}',RowKey='${keyInUrl(entity.rowKey)}')`;
  const head = `--${changeset}\r\ncontent-type: application/http\r\ncontent-transfer-encoding: binary\r\n\r\n`;
  if (kind === 'delete') return `${head}DELETE ${url} HTTP/1.1\r\nAccept: application/json;odata=minimalmetadata\r\nDataServiceVersion: 3.0\r\nIf-Match: *\r\n\r\n`;
  if (kind === 'upsert' && mode === 'Replace') {
    return `${head}PUT ${url} HTTP/1.1\r\nContent-Type: application/json\r\nDataServiceVersion: 3.0\r\nAccept: application/json\r\n\r\n\r\n${entityJson(entity)}`;
  }
  throw new Error(`submitTransaction sends replace-mode upserts and deletes, not ${kind}${mode === undefined ? '' : ` (${String(mode)})`}`);
}

/** A key in an entity URL: quotes doubled (OData), then percent-encoded. */
const keyInUrl = (key: string | undefined): string => encodeURIComponent(String(key).replace(/'/g, "''"));

/** The entity as the SDK serializes it: system keys renamed, typed values with their `@odata.type`. */
function entityJson(entity: TableEntity): string {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(entity)) {
    const property = name === 'partitionKey' ? 'PartitionKey' : name === 'rowKey' ? 'RowKey' : name;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[property] = value;
    else if (isTyped(value)) {
      out[property] = value.value;
      out[`${property}@odata.type`] = `Edm.${value.type}`;
    } else throw new Error(`submitTransaction does not serialize property ${name} (${typeof value})`);
  }
  return JSON.stringify(out);
}

const EDM_TYPES = new Set(['Boolean', 'DateTime', 'Double', 'Guid', 'Int32', 'Int64', 'String', 'Binary']);

const isTyped = (value: unknown): value is { value: unknown; type: string } =>
  typeof value === 'object' && value !== null && (value as { value?: unknown }).value !== undefined && EDM_TYPES.has((value as { type?: string }).type ?? '');

/** The SDK's error for a failed transaction: the service's message and code, and the status. */
function failure(body: string, statusCode: number, response: PipelineResponse): RestError {
  let parsed: { 'odata.error'?: { code?: string; message?: { value?: string } } } = {};
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    // not the service's error object: keep the defaults
  }
  const error = parsed['odata.error'];
  return new RestError(error?.message?.value ?? 'Transaction Failed', { code: error?.code, statusCode, request: response.request, response });
}
