import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** One labelled sample of a metric, read when Prometheus scrapes. */
export type Sample = readonly [labels: Record<string, string>, value: number];

/**
 * A metric whose value lives elsewhere (a projector's stats, a ledger's count): it is read at
 * scrape time, so the registry never holds a second copy that could drift.
 */
export interface ReadMetric {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labelNames?: readonly string[];
  /** A plain number for an unlabelled metric, else one sample per label set. */
  read(): number | readonly Sample[] | Promise<number | readonly Sample[]>;
}

export interface ServiceMetrics {
  registry: Registry;
  /** Observes one HTTP request's duration, labelled with its route pattern (not the raw path, which holds ids). */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** The Prometheus text exposition of every metric. */
  text(): Promise<string>;
  contentType: string;
}

/** Request durations, in seconds: fine below 100 ms, where the read API should answer. */
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The service's registry (prom-client): Node's and the process's default metrics
 * (`process_resident_memory_bytes`, `nodejs_eventloop_lag_seconds`, GC…), an HTTP request
 * duration histogram per route, and opsfold's own metrics, each with HELP and TYPE.
 */
export function serviceMetrics(metrics: readonly ReadMetric[]): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const http = new Histogram({
    name: 'opsfold_http_request_duration_seconds', help: 'Time to answer an HTTP request, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status'], buckets: HTTP_BUCKETS, registers: [registry],
  });
  for (const spec of metrics) register(registry, spec);
  return {
    registry,
    observeRequest: (method, route, status, seconds) => http.observe({ method, route, status: String(status) }, seconds),
    text: () => registry.metrics(),
    contentType: registry.contentType,
  };
}

function register(registry: Registry, spec: ReadMetric): void {
  const labelNames = [...(spec.labelNames ?? [])];
  // prom-client calls collect() on every scrape; set the value read then (a counter has no set: reset, then add it).
  async function collect(this: Counter | Gauge): Promise<void> {
    const read = await spec.read();
    this.reset();
    const samples: readonly Sample[] = typeof read === 'number' ? [[{}, read]] : read;
    for (const [labels, value] of samples) {
      if (!Number.isFinite(value)) continue;
      if (this instanceof Gauge) this.set(labels, value);
      else this.inc(labels, Math.max(0, value));
    }
  }
  const options = { name: spec.name, help: spec.help, labelNames, registers: [registry], collect };
  if (spec.type === 'counter') new Counter(options);
  else new Gauge(options);
}
