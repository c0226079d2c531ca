import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AzureNamedKeyCredential, TableClient, type TransactionAction } from '@azure/data-tables';
import { createHttpHeaders, RestError, type HttpClient, type PipelineRequest } from '@azure/core-rest-pipeline';
import { submitTransaction } from '../../src/adapters/tableStorage/submitTransaction';

const KEY = new AzureNamedKeyCredential('devstoreaccount1', Buffer.from('not a real key').toString('base64'));

/** An HttpClient that keeps every request and answers with `answer`. */
function recorder(answer: (request: PipelineRequest) => { status: number; body: string }) {
  const requests: PipelineRequest[] = [];
  const httpClient: HttpClient = {
    async sendRequest(request) {
      requests.push(request);
      const { status, body } = answer(request);
      return { request, status, headers: createHttpHeaders({ 'content-type': 'multipart/mixed; boundary=batchresponse_1' }), bodyAsText: body };
    },
  };
  return { requests, httpClient };
}

/** The service's answer to a changeset of `n` operations that all succeeded. */
const succeeded = (request: PipelineRequest) => {
  const n = String(request.body).split('\r\nPUT ').length + String(request.body).split('\r\nDELETE ').length - 2;
  const parts = Array.from({ length: n }, () => '--changesetresponse_2\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\nETag: W/"x"\r\n\r\n');
  return { status: 202, body: `--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n${parts.join('')}--changesetresponse_2--\r\n--batchresponse_1--\r\n` };
};

/** What may differ between two sends of the same transaction: boundaries, request ids, dates, signatures, the User-Agent. */
function comparable(request: PipelineRequest) {
  const ids = new Map<string, string>();
  const stable = (text: string) => text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (id) => {
    if (!ids.has(id)) ids.set(id, `id${ids.size}`);
    return ids.get(id)!;
  });
  const volatile = new Set(['x-ms-client-request-id', 'x-ms-date', 'authorization', 'user-agent']);
  const headers = [...request.headers].filter(([name]) => !volatile.has(name.toLowerCase())).map(([name, value]) => `${name.toLowerCase()}: ${stable(value)}`).sort();
  return { method: request.method, url: request.url, headers, body: stable(String(request.body)), signed: request.headers.has('authorization') };
}

const ACTIONS: TransactionAction[] = [
  ['upsert', { partitionKey: 'b07', rowKey: "t%2F1 é+&=?#|vm'2|000001700000000", pages: 1, chars: 7, appliedThrough: { value: 2 ** 53, type: 'Double' }, d0: 'b1:AAAA' }, 'Replace'],
  ['upsert', { partitionKey: 'b07', rowKey: 'unicode 漢字😀', ratio: 0.25, active: false, note: 'quote " backslash \\ newline \n control \u0001', __nulls: 'a,b' }, 'Replace'],
  ['delete', { partitionKey: 'b07', rowKey: 'r~001' }],
];

describe('submitTransaction: a transaction without the SDK assembling it action by action', () => {
  for (const url of ['http://127.0.0.1:10002/devstoreaccount1', 'https://acct.table.core.windows.net/']) {
    it(`sends the request the SDK sends for the same upserts and deletes (${url})`, async () => {
      const sdk = recorder(succeeded);
      await new TableClient(url, 'blocks', KEY, { httpClient: sdk.httpClient, allowInsecureConnection: true, retryOptions: { maxRetries: 0 } }).submitTransaction(ACTIONS);
      const ours = recorder(succeeded);
      const client = new TableClient(url, 'blocks', KEY, { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } });
      await submitTransaction(client, ACTIONS, { httpClient: ours.httpClient, allowInsecureConnection: true });
      assert.equal(ours.requests.length, 1);
      assert.deepEqual(comparable(ours.requests[0]), comparable(sdk.requests[0]));
      assert.ok(comparable(ours.requests[0]).signed, 'signed by the client\'s pipeline');
    });
  }

  it('keeps a SAS of the client\'s URL on the batch request only, as the SDK does', async () => {
    const url = 'https://acct.table.core.windows.net?sv=2019-02-02&sig=abc%3D';
    const sdk = recorder(succeeded);
    await new TableClient(url, 'blocks', { httpClient: sdk.httpClient }).submitTransaction(ACTIONS);
    const ours = recorder(succeeded);
    await submitTransaction(new TableClient(url, 'blocks'), ACTIONS, { httpClient: ours.httpClient });
    assert.deepEqual(comparable(ours.requests[0]), comparable(sdk.requests[0]));
  });

  it('throws what the SDK throws when an action fails: a RestError with its status and the service\'s code and message', async () => {
    const failed = () => ({
      status: 202,
      body: '--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n--changesetresponse_2\r\nContent-Type: application/http\r\n\r\n' +
        'HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{"odata.error":{"code":"ResourceNotFound","message":{"lang":"en-US","value":"The specified resource does not exist."}}}\r\n' +
        '--changesetresponse_2--\r\n--batchresponse_1--\r\n',
    });
    const sdkError = await new TableClient('http://127.0.0.1:1/acct', 't', KEY, { httpClient: recorder(failed).httpClient, allowInsecureConnection: true })
      .submitTransaction(ACTIONS).then(() => undefined, (e: unknown) => e);
    const ourError = await submitTransaction(new TableClient('http://127.0.0.1:1/acct', 't', KEY, { allowInsecureConnection: true }), ACTIONS, { httpClient: recorder(failed).httpClient, allowInsecureConnection: true })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(ourError instanceof RestError && sdkError instanceof RestError);
    assert.deepEqual([ourError.statusCode, ourError.code, ourError.message], [404, 'ResourceNotFound', 'The specified resource does not exist.']);
    assert.deepEqual([ourError.statusCode, ourError.code, ourError.message], [sdkError.statusCode, sdkError.code, sdkError.message]);
  });

  it('throws a RestError with the status of a batch the service refused as a whole', async () => {
    const refused = () => ({ status: 400, body: '{"odata.error":{"code":"InvalidInput","message":{"value":"Bad batch."}}}' });
    const error = await submitTransaction(new TableClient('http://127.0.0.1:1/acct', 't', KEY, { allowInsecureConnection: true }), ACTIONS, { httpClient: recorder(refused).httpClient, allowInsecureConnection: true })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof RestError);
    assert.deepEqual([error.statusCode, error.code, error.message], [400, 'InvalidInput', 'Bad batch.']);
  });

  it('refuses an action it does not assemble instead of sending something else', async () => {
    const { requests, httpClient } = recorder(succeeded);
    const merge: TransactionAction = ['upsert', { partitionKey: 'p', rowKey: 'r' }, 'Merge'];
    await assert.rejects(submitTransaction(new TableClient('http://127.0.0.1:1/acct', 't', KEY), [merge], { httpClient }), /replace-mode upserts and deletes/);
    assert.equal(requests.length, 0);
  });
});
