import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serviceMetrics } from '../../src/adapters/metrics/serviceMetrics';
import { checkPrometheusText, sampleValue } from '../support/prometheusText';

describe('the service registry (prom-client)', () => {
  it('when scraped, every metric has HELP and TYPE, and the default process and Node.js metrics are there', async () => {
    const metrics = serviceMetrics([{ name: 'opsfold_metrics_ingested_total', help: 'Metrics appended.', type: 'counter', read: () => 3 }]);
    const families = checkPrometheusText(await metrics.text());
    for (const name of ['process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_gc_duration_seconds', 'opsfold_http_request_duration_seconds']) {
      assert.ok(families.has(name), name);
    }
    assert.equal(sampleValue(families, 'opsfold_metrics_ingested_total'), 3);
  });

  it('when a value changes between scrapes, each scrape reads it anew (counters and labelled gauges)', async () => {
    let ingested = 10;
    let lag: [Record<string, string>, number][] = [[{ projection: 'windows' }, 5], [{ projection: 'rejects' }, 0]];
    const metrics = serviceMetrics([
      { name: 'opsfold_metrics_ingested_total', help: 'Metrics appended.', type: 'counter', read: () => ingested },
      { name: 'opsfold_consumer_lag_bytes', help: 'Log bytes not yet folded.', type: 'gauge', labelNames: ['projection'], read: async () => lag },
    ]);
    let families = checkPrometheusText(await metrics.text());
    assert.equal(sampleValue(families, 'opsfold_metrics_ingested_total'), 10);
    assert.equal(sampleValue(families, 'opsfold_consumer_lag_bytes', { projection: 'windows' }), 5);
    ingested = 25;
    lag = [[{ projection: 'windows' }, 0]];
    families = checkPrometheusText(await metrics.text());
    assert.equal(sampleValue(families, 'opsfold_metrics_ingested_total'), 25);
    assert.equal(sampleValue(families, 'opsfold_consumer_lag_bytes', { projection: 'windows' }), 0);
    assert.equal(sampleValue(families, 'opsfold_consumer_lag_bytes', { projection: 'rejects' }), undefined, 'a label set no longer read is gone');
  });

  it('when requests are observed, the histogram counts them per method, route and status', async () => {
    const metrics = serviceMetrics([]);
    metrics.observeRequest('GET', '/v1/get-data', 200, 0.004);
    metrics.observeRequest('GET', '/v1/get-data', 200, 0.2);
    metrics.observeRequest('GET', '/v1/get-data', 400, 0.001);
    const text = await metrics.text();
    checkPrometheusText(text);
    assert.match(text, /^opsfold_http_request_duration_seconds_count\{method="GET",route="\/v1\/get-data",status="200"\} 2$/m);
    assert.match(text, /^opsfold_http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/v1\/get-data",status="200"\} 1$/m);
    assert.match(text, /^opsfold_http_request_duration_seconds_count\{method="GET",route="\/v1\/get-data",status="400"\} 1$/m);
  });
});
