import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ServiceNowClient, type ServiceNowClientOptions } from '../../src/adapters/serviceNow/ServiceNowClient';
import { UpstreamAuthError, UpstreamError } from '../../src/core/errors';
import { pollBacklog } from '../../src/core/pollBacklog';
import { FakeServiceNow } from '../support/fakeServiceNow';

const USER = 'svc.opsfold';
const PASSWORD = 'p@ss:w0rd/éß';
const EUC = 'active=true^assignment_group.name=EUC Desk^state!=6';
const SUPPORT = 'active=true^assignment_group.name=Support+L2';

describe('ServiceNow client against a fake instance on loopback', () => {
  let fake: FakeServiceNow;
  let logged: string[];
  let slept: number[];
  const client = (over: Partial<ServiceNowClientOptions> = {}) => new ServiceNowClient({
    instanceUrl: fake.url,
    auth: { kind: 'basic', username: USER, password: PASSWORD },
    log: (line) => logged.push(line),
    sleep: async (ms) => {
      slept.push(ms);
    },
    ...over,
  });

  before(async () => {
    fake = await FakeServiceNow.start({ username: USER, password: PASSWORD, counts: { [EUC]: 42, [SUPPORT]: 7 }, tables: { sc_task: { [EUC]: 17 } }, oauth: { clientId: 'cid', clientSecret: 'csecret' } });
  });
  after(async () => fake.close());
  beforeEach(() => {
    fake.requests.length = 0;
    logged = [];
    slept = [];
  });

  it('sends the query with Basic auth and reads the count, which ServiceNow gives as a string', async () => {
    assert.equal(await client().countIncidents(EUC), 42);

    assert.deepEqual(fake.requests, [{ method: 'GET', path: '/api/now/stats/incident', params: { sysparm_count: 'true', sysparm_query: EUC }, auth: 'basic' }]);
    assert.equal(logged.length, 1);
    assert.ok(logged[0].includes(JSON.stringify(EUC)) && logged[0].endsWith('→ 42'), logged[0]);
  });

  it('keeps + and spaces of a query as they are', async () => {
    assert.equal(await client().countIncidents(SUPPORT), 7);
    assert.equal(fake.requests[0].params.sysparm_query, SUPPORT);
  });

  it('a wrong password is a clear UpstreamAuthError at once: no retry, no secret in the message', async () => {
    const wrong = client({ auth: { kind: 'basic', username: USER, password: 'nope' } });

    await assert.rejects(wrong.countIncidents(EUC), (e: unknown) =>
      e instanceof UpstreamAuthError && e.status === 401 && /401 Unauthorized/.test(e.message) && /SERVICENOW_USERNAME/.test(e.message) && !e.message.includes('nope'));
    assert.equal(fake.requests.length, 1);
  });

  it('refused rights (403) are an UpstreamAuthError too', async () => {
    const forbidden = await FakeServiceNow.start({ username: USER, password: PASSWORD, counts: {}, forbidden: true });
    try {
      const c = new ServiceNowClient({ instanceUrl: forbidden.url, auth: { kind: 'basic', username: USER, password: PASSWORD } });
      await assert.rejects(c.countIncidents(EUC), (e: unknown) => e instanceof UpstreamAuthError && e.status === 403 && /403 Forbidden/.test(e.message));
    } finally {
      await forbidden.close();
    }
  });

  it('500 then 200: retried after a backoff, and the count comes through', async () => {
    fake.failNext(500, 503);

    assert.equal(await client().countIncidents(EUC), 42);
    assert.equal(fake.requests.length, 3);
    assert.deepEqual(slept, [500, 1000]);
    assert.ok(logged.some((l) => /HTTP 500.*attempt 1 of 4/.test(l)));
  });

  it('5xx every time: a retriable UpstreamError after the configured attempts', async () => {
    fake.failNext(500, 500, 500);

    await assert.rejects(client({ attempts: 3 }).countIncidents(EUC), (e: unknown) => e instanceof UpstreamError && e.retriable && /after 3 attempts: HTTP 500/.test(e.message));
    assert.equal(fake.requests.length, 3);
  });

  it('nothing listening: network errors are retried, then reported', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const c = client({ instanceUrl: `http://127.0.0.1:${port}`, attempts: 2 });

    await assert.rejects(c.countIncidents(EUC), (e: unknown) => e instanceof UpstreamError && e.retriable && /network error/.test(e.message));
    assert.equal(slept.length, 1);
  });

  it('no answer: the timeout ends the request and it is retried', async () => {
    fake.hang = true;
    try {
      await assert.rejects(client({ timeoutMs: 150, attempts: 2 }).countIncidents(EUC), (e: unknown) => e instanceof UpstreamError && /no answer within 150 ms/.test(e.message));
      assert.equal(fake.requests.length, 2);
    } finally {
      fake.hang = false;
    }
  });

  it('OAuth password grant: one token for several requests, sent as Bearer; a revoked token is replaced', async () => {
    const oauth = client({ auth: { kind: 'oauth', username: USER, password: PASSWORD, clientId: 'cid', clientSecret: 'csecret' } });
    const before = fake.tokensIssued;

    assert.equal(await oauth.countIncidents(EUC), 42);
    assert.equal(await oauth.countIncidents(SUPPORT), 7);
    assert.equal(fake.tokensIssued - before, 1);
    assert.deepEqual(fake.requests.map((r) => [r.method, r.path, r.auth]), [
      ['POST', '/oauth_token.do', 'none'], ['GET', '/api/now/stats/incident', 'bearer'], ['GET', '/api/now/stats/incident', 'bearer'],
    ]);
    assert.equal(fake.requests[0].params.grant_type, 'password');

    fake.revokeTokens();
    assert.equal(await oauth.countIncidents(EUC), 42);
    assert.equal(fake.tokensIssued - before, 2);
  });

  it('OAuth with a wrong client secret: UpstreamAuthError without the secret', async () => {
    const oauth = client({ auth: { kind: 'oauth', username: USER, password: PASSWORD, clientId: 'cid', clientSecret: 'wrong-secret' } });
    await assert.rejects(oauth.countIncidents(EUC), (e: unknown) => e instanceof UpstreamAuthError && /OAuth password grant/.test(e.message) && !e.message.includes('wrong-secret'));
  });

  it('credentials never reach the log', async () => {
    fake.failNext(500);
    await client().countIncidents(EUC);
    const text = logged.join('\n');
    assert.ok(!text.includes(PASSWORD) && !text.includes(Buffer.from(`${USER}:${PASSWORD}`).toString('base64')));
  });

  it('an instance URL on plain http is refused unless it is a loopback address', () => {
    assert.throws(() => new ServiceNowClient({ instanceUrl: 'http://acme.service-now.com', auth: { kind: 'basic', username: 'u', password: 'p' } }), /must be https/);
  });

  describe('polling every team', () => {
    it('one sample per team, each with its query and the time its answer came', async () => {
      let t = 1000;
      const outcome = await pollBacklog([{ team: 'EUC', query: EUC }, { team: 'Support', query: SUPPORT }], client(), () => (t += 10));
      assert.deepEqual(outcome, {
        samples: [{ team: 'EUC', sampledAtMs: 1010, count: 42, query: EUC }, { team: 'Support', sampledAtMs: 1020, count: 7, query: SUPPORT }],
        failures: [],
      });
    });

    it('a refused credential stops the poll: nothing to record', async () => {
      const wrong = client({ auth: { kind: 'basic', username: USER, password: 'nope' } });
      await assert.rejects(pollBacklog([{ team: 'EUC', query: EUC }, { team: 'Support', query: SUPPORT }], wrong), UpstreamAuthError);
      assert.equal(fake.requests.length, 1);
    });

    it('a team with "table" is counted from that table\'s Aggregate API, the others from incident\'s', async () => {
      const outcome = await pollBacklog([{ team: 'EUC', query: EUC }, { team: 'EUC tasks', query: EUC, table: 'sc_task' }], client(), () => 5);
      assert.deepEqual(outcome.samples.map((s) => [s.team, s.count]), [['EUC', 42], ['EUC tasks', 17]]);
      assert.deepEqual(fake.requests.map((r) => [r.path, r.params.sysparm_query]), [['/api/now/stats/incident', EUC], ['/api/now/stats/sc_task', EUC]]);
      assert.ok(logged.some((l) => l.includes('/api/now/stats/sc_task sysparm_query=') && l.endsWith('→ 17')), logged.join('\n'));
    });

    it('a table the instance does not have (ServiceNow answers 400) fails that team at once, not retriable; a bad name is refused before any request', async () => {
      const outcome = await pollBacklog([{ team: 'EUC', query: EUC }, { team: 'Typo', query: EUC, table: 'sc_tsk' }], client());
      assert.deepEqual(outcome.samples.map((s) => s.team), ['EUC']);
      assert.equal(outcome.failures.length, 1);
      assert.deepEqual([outcome.failures[0].team, outcome.failures[0].retriable], ['Typo', false]);
      assert.match(outcome.failures[0].message, /stats\/sc_tsk .*HTTP 400: .*Invalid table sc_tsk/);
      assert.equal(fake.requests.length, 2);
      assert.deepEqual(slept, []);

      await assert.rejects(client().countRecords('sys_user/../incident', EUC), /must be a ServiceNow table name/);
      assert.equal(fake.requests.length, 2);
    });

    it('a team that keeps failing is reported as retriable, the others are sampled', async () => {
      fake.failNext(500, 500);
      const outcome = await pollBacklog([{ team: 'EUC', query: EUC }, { team: 'Support', query: SUPPORT }], client({ attempts: 2 }));
      assert.deepEqual(outcome.samples.map((s) => s.team), ['Support']);
      assert.deepEqual(outcome.failures.map((f) => [f.team, f.retriable]), [['EUC', true]]);
    });
  });
});
