/**
 * Hand-written OpenAPI 3.1 description of the read/ingest API (DESIGN §5): every route createApp
 * serves, its parameters, its answers (errors included) and the SPOC message. Kept self-contained
 * (no imports) so that it is a plain document; test/int/openapi.int.spec.ts checks real answers
 * against it.
 */
type Schema = Record<string, unknown>;

/** What aggregationBy takes (projections/minuteQueries.ts AGGREGATIONS, checked against it by test/int/openapi.int.spec.ts). */
const AGGREGATION_BY = ['avg', 'min', 'max', 'p50', 'p90', 'p95', 'p99'] as const;

const errorRef = { $ref: '#/components/schemas/Error' };
const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: errorRef } } });
const badRequest = (description = 'A parameter is unknown, repeated or invalid (`error.parameter` names it)') => errorResponse(description);
const unauthorized = {
  description: 'OPSFOLD_API_TOKEN is set and the request has no `Authorization: Bearer <token>` with it',
  headers: { 'WWW-Authenticate': { description: 'The scheme to use: `Bearer realm="opsfold"`.', schema: { type: 'string' } } },
  content: { 'application/json': { schema: errorRef, example: { error: { code: 'unauthorized', message: 'this route needs Authorization: Bearer <token>' } } } },
};
const unavailable = errorResponse('The table storage is unavailable; try again (`error.code` is the storage error\'s code)');
const retryAfter = { 'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'integer', minimum: 0 } } };
const notServed = (what: string) => errorResponse(`Not served by this service (${what}): \`{"error":{"code":"not_found",…}}\``);

const q = (name: string, schema: Schema, required = false, description?: string) => ({ name, in: 'query', required, schema, ...(description ? { description } : {}) });
const KEY_PARAM = q('key', { type: 'string', minLength: 1 }, true, 'The counter key, `PerfType.PerfName` (e.g. `win_cpu.percent_processor_time`).');
const LIMIT_PARAM = q('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 100 });
const rangeParams = [
  q('minutes', { type: 'integer', minimum: 1, maximum: 10080, default: 60 }, false, 'How many minutes back from `to` (inclusive of the window at `to`).'),
  q('aggregationInterval', { type: 'integer', minimum: 1, maximum: 1440, default: 1 }, false, 'Bucket size in minutes; buckets are aligned to the epoch.'),
  q('aggregationBy', { type: 'string', enum: [...AGGREGATION_BY], default: 'avg' }, false,
    'How a bucket\'s `value` is made: `avg`, `min` or `max` of its windows\' averages, or `p50`, `p90`, `p95`, `p99`: the value at rank ⌊q·(count−1)⌋ of its single metric values ' +
    'sorted ascending, exact when every window of the bucket holds one or two values, else from mergeable DDSketches within 1% of it.'),
  q('to', { type: 'string' }, false, 'Epoch seconds or ISO 8601 (`2026-02-28`, `2026-02-28T13:05Z`, UTC without an offset), floored to the minute; a date or time that does not exist is a 400. Defaults to the newest window of the key.'),
];
const json = (schema: Schema, description = 'OK', example?: unknown) => ({
  description, content: { 'application/json': { schema, ...(example === undefined ? {} : { example }) } },
});
const obj = (required: string[], properties: Schema, extra: Schema = {}): Schema => ({ type: 'object', required, properties, ...extra });
const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer' };
const num: Schema = { type: 'number' };

const idField = (description: string): Schema => ({ type: 'string', minLength: 1, maxLength: 256, description: `${description} Non-empty, at most 256 characters (UTF-16 code units), well-formed Unicode.` });
const optionalField = (description: string): Schema => ({
  type: ['string', 'null'], maxLength: 256,
  description: `${description} Optional: absent, null or a string of at most 256 characters, well-formed Unicode, taking at most 494 characters of a table key once escaped; stored, not used by today's projections.`,
});
/** What the gate (src/core/metricRejection.ts) says, one example per rule, in the order it judges them. */
const REJECT_REASONS = 'The first rule the metric breaks, naming SPOC\'s fields: `timestamp is missing`, `PerfValue must be a number, got the string "12"`, ' +
  '`MaskedVMName must not be empty`, `PerfName is longer than 256 characters`, `Region must be a string or null, got number`, ' +
  '`MaskedVMName is not well-formed Unicode: a lone UTF-16 surrogate (\\ud800) at index 1`, ' +
  '`timestamp 1790000100000 looks like epoch milliseconds (2026-09-21T14:15:00Z): send epoch seconds`, `timestamp -3600 is before 2000-01-01T00:00:00Z (946684800): send epoch seconds`, ' +
  '`timestamp 32503680000 (3000-01-01T00:00:00Z) is more than 300 seconds after its arrival (…), the most a sender\'s clock may be ahead (WINDOW_MAX_FUTURE_SECONDS)`, ' +
  '`PerfValue 1e+301 is beyond ±1e300, the largest magnitude whose window sums stay finite`, ' +
  '`MaskedTenantId and MaskedVMName take 512 characters of a table key once escaped; together they may take at most 494 (…)`, ' +
  '`PerfType and PerfName take 513 characters of a table key once escaped (as PerfType.PerfName); together they may take at most 495 (…)`.';


/** The DESIGN's example metric: the README shows the same message. */
const exampleMetric = {
  timestamp: 1648637647, MaskedTenantId: 'wYAVC3oWQU+ozhgAAg5f/w==637841132085596403', SiteName: null, MaskedVMName: 'Sharedfk6hZ4v5Xkmu0clBsg+aYw==63784',
  ResourcePoolName: 'Shared-ngXXH', Region: 'centralindia', MachineSize: 'Standard_D4s_v4', PerfName: 'WinDefend', PerfValue: 1, PerfType: 'win_service',
};

const bucketProperties: Schema = {
  timestamp: { type: 'integer', description: 'Start of the bucket, epoch seconds.' },
  value: { type: ['number', 'null'], description: 'The bucket\'s value (see aggregationBy); a percentile is null for windows folded before their values were kept (replay them).' },
  count: { type: 'integer', description: 'Metrics folded into the bucket.' },
  windows: { type: 'integer', description: 'Minute windows in the bucket.' },
  low: { type: ['number', 'null'], description: 'Smallest metric value in the bucket.' },
  high: { type: ['number', 'null'], description: 'Largest metric value in the bucket.' },
  final: {
    type: 'boolean',
    description: 'Every minute of the bucket (within the range) is final: the watermark has passed its end plus WINDOW_ALLOWED_LATENESS_SECONDS, so no window ' +
      'of it can be revised or appear any more (a later metric goes to the late ledger) and the figures are the last. On Event Hubs, once every partition\'s has.',
  },
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'opsfold API',
    version: '0.1.0',
    description: 'Minute-window averages of IT-operations telemetry: SPOC messages in (`POST /v1/spoc`), windows, ledgers, backlog and health out. ' +
      'Parameter values may be wrapped in double quotes; an unknown or repeated parameter is a 400. Errors are `{"error":{"code","parameter"?,"message"}}`, never a stack trace; ' +
      'a URL with headers above 16 KB, on any route, is a 431 with the same error object.',
  },
  servers: [{ url: '/', description: 'The service that served this document' }],
  tags: [
    { name: 'ingest', description: 'SPOC messages in' },
    { name: 'windows', description: 'Minute windows and what they know' },
    { name: 'ledgers', description: 'What was rejected, late or set aside' },
    { name: 'backlog', description: 'ServiceNow backlog snapshots' },
    { name: 'projections', description: 'Projections analysts declare (opsfold projection add FILE)' },
    { name: 'operations', description: 'Health, metrics and this document' },
  ],
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Only when OPSFOLD_API_TOKEN is set; then every /v1 route needs it.' } },
    schemas: {
      ProjectionDefinition: obj(['name', 'groupBy', 'window', 'aggregates'], {
        name: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,47}$' },
        where: { type: 'object', description: 'Field → the values a metric must have one of.', additionalProperties: { type: 'array', items: { type: 'string' }, minItems: 1 } },
        groupBy: { type: 'array', maxItems: 4, uniqueItems: true, items: { type: 'string', enum: ['key', 'PerfType', 'PerfName', 'tenant', 'vm', 'Region', 'MachineSize', 'ResourcePoolName', 'SiteName'] } },
        window: { type: 'string', enum: ['1m', '5m', '15m', '1h', '1d'] },
        aggregates: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: ['count', 'sum', 'avg', 'min', 'max', 'p50', 'p90', 'p95', 'p99', 'vms'] } },
      }, { additionalProperties: false }),
      Error: obj(['error'], {
        error: obj(['code', 'message'], {
          code: { type: 'string', description: 'Stable, machine-readable: invalid_parameter, invalid_json, invalid_message, unauthorized, not_found, payload_too_large, …', examples: ['invalid_parameter'] },
          parameter: { type: 'string', description: 'The parameter, header or body part at fault, when there is one.' },
          message: { type: 'string', description: 'What is wrong, for people.' },
        }, { additionalProperties: false }),
      }, { additionalProperties: false, examples: [{ error: { code: 'invalid_parameter', parameter: 'minutes', message: 'parameter "minutes" must be between 1 and 10080, got 0' } }] }),
      SpocMetric: obj(['timestamp', 'MaskedTenantId', 'MaskedVMName', 'PerfType', 'PerfName', 'PerfValue'], {
        timestamp: {
          type: 'number', minimum: 946684800,
          description: 'Event time in epoch seconds (fractions allowed), a finite JSON number from 2000-01-01T00:00:00Z (946684800) to the arrival time plus ' +
            'WINDOW_MAX_FUTURE_SECONDS (default 300). Epoch milliseconds, micro- or nanoseconds are rejected with a hint.',
        },
        MaskedTenantId: idField('The tenant.'),
        MaskedVMName: idField('The VM, within its tenant.'),
        PerfType: idField('The counter\'s type; the counter key is `PerfType.PerfName`.'),
        PerfName: idField('The counter\'s name.'),
        PerfValue: { type: 'number', minimum: -1e300, maximum: 1e300, description: 'The counter\'s value, a finite JSON number of magnitude at most 1e300 (window sums stay finite).' },
        SiteName: optionalField('The site.'),
        ResourcePoolName: optionalField('The resource pool.'),
        Region: optionalField('The Azure region.'),
        MachineSize: optionalField('The VM size.'),
      }, {
        description: 'One per-minute performance counter of one VM. A metric that breaks a rule is rejected on its own (its index and reason in the 202 answer ' +
          'and in GET /v1/rejects); the rest of the message is accepted. Beyond what this schema says, the ids must fit a table key (512 characters) once escaped, ' +
          'where each `/ \\ # ? % | \'` or control character takes 3 characters per UTF-8 byte: MaskedTenantId and MaskedVMName together at most 494, ' +
          '`PerfType.PerfName` at most 495, an optional field at most 494; and `timestamp` at most WINDOW_MAX_FUTURE_SECONDS after the arrival. Other fields are ignored.',
        examples: [exampleMetric],
      }),
      SpocMessage: obj(['metrics'], {
        metrics: { type: 'array', items: { $ref: '#/components/schemas/SpocMetric' }, description: 'The metrics, judged one by one.' },
      }, {
        description: 'A SPOC message: a JSON object with a `metrics` array, at most 256 KB. A body that is not JSON, or has no `metrics` array, is a 400.',
        examples: [{ metrics: [exampleMetric] }],
      }),
      IngestAnswer: obj(['accepted', 'rejected'], {
        accepted: { type: 'integer', minimum: 0, description: 'Metrics appended to the log.' },
        rejected: {
          type: 'array',
          items: obj(['index', 'reason'], { index: { type: 'integer', minimum: 0, description: 'Index in `metrics`.' }, reason: { type: 'string', description: REJECT_REASONS } }, { additionalProperties: false }),
        },
        duplicate: { const: true, description: 'Present when the Idempotency-Key was seen before: the first answer again, nothing appended.' },
      }, { additionalProperties: false }),
      Bucket: obj(['timestamp', 'value', 'count', 'windows', 'low', 'high', 'vms', 'expectedVms', 'final'], {
        ...bucketProperties,
        vms: { type: ['integer', 'null'], minimum: 0, description: 'The largest number of distinct (tenant, VM) pairs with a metric in one of the bucket\'s windows; null for windows folded before VMs were counted.' },
        expectedVms: {
          type: ['integer', 'null'], minimum: 0,
          description: 'Likewise, the largest number of distinct pairs that reported the key in the 60 minutes before one of its windows: a minute whose vms is well under it is still partial (late tenants).',
        },
      }, { additionalProperties: false }),
      WindowEvent: obj(['id', 'key', 'windowStart', 'count', 'sum', 'min', 'max', 'avg', 'revision', 'final'], {
        id: { type: 'integer', minimum: 1, description: 'The event id (also the SSE `id`): see GET /v1/stream/windows for what it is in each `emit` mode.' },
        key: str,
        tenant: { type: 'string', description: 'Per-VM windows only (with vm); absent on cross-tenant ones.' },
        vm: str,
        windowStart: { type: 'integer', description: 'Epoch seconds; the window covers [windowStart, windowStart + 60).' },
        count: int, sum: num, min: num, max: num, avg: num,
        revision: { type: 'integer', minimum: 1, description: '1 when the window first closed, then 2, 3… for each correction by late data; on a final notice, the last one.' },
        vms: { type: 'integer', minimum: 0, description: 'Cross-tenant windows only: the distinct (tenant, VM) pairs with a metric in the window.' },
        expectedVms: { type: 'integer', minimum: 0, description: 'Cross-tenant windows only: the distinct pairs that reported the key in the 60 minutes before the window.' },
        final: { type: 'boolean', description: 'false on a revision; true on the window\'s final notice: its last values, sent once the watermark has passed its end plus the allowed lateness (no revision follows).' },
      }, {
        additionalProperties: false,
        description: 'A window event: the `data` of a `window` event of GET /v1/stream/windows, and the body of an event on the window-events Event Hub.',
        examples: [{ id: 1700000400000000, key: 'win_cpu.percent_processor_time', windowStart: 1700000400, count: 3, sum: 177, min: 41.5, max: 77, avg: 59, revision: 2, vms: 3, expectedVms: 3, final: true }],
      }),
      Reject: obj(['row', 'index', 'reason', 'raw'], {
        row: { type: 'string', description: 'The ledger row (log position order).' },
        index: { type: 'integer', description: 'Index of the metric in its message.' },
        reason: { type: 'string', description: REJECT_REASONS },
        raw: { type: ['string', 'null'], description: 'The metric\'s JSON, cut after 2,048 characters (then ending in `…`).' },
        source: { type: ['string', 'null'], description: 'Where the message came from: http, cli, servicebus or simulator.' },
        receivedAt: { type: 'string', format: 'date-time' },
      }),
      Health: obj(['status', 'problems'], {
        status: { type: 'string', enum: ['ok', 'failing'], description: '"ok" (200) only when all is well, else "failing" (503).' },
        problems: { type: 'array', items: str, description: 'One sentence per problem (projector failing, storage unreachable, last flush too old, …); empty when ok.' },
        source: { type: 'string', enum: ['simulated', 'servicebus', 'api'] },
        simulated: { type: 'boolean' },
        log: obj(['kind'], {
          kind: { type: 'string', enum: ['file', 'eventhubs'] },
          repairs: { type: 'array', items: { type: 'object' }, description: 'File log: the damaged tails repaired at the start (information, not a failure).' },
          eventHub: { type: 'string' }, partitions: { description: 'Event Hubs: the partitions this instance owns.' },
        }),
        projector: obj([], {
          position: { type: ['integer', 'string', 'null'] }, watermark: { type: ['number', 'null'] }, watermarkDelaySeconds: { type: ['number', 'null'] },
          metrics: int, late: int, windowsEmitted: int, revisions: int,
          finalThrough: { type: ['number', 'null'], description: 'Windows ending by this (epoch seconds) are final: the watermark minus the allowed lateness as of the last checkpoint (on Event Hubs, the least over the partitions).' },
          failing: { type: 'array', items: { type: 'object' }, description: 'Projectors that are down now, and why.' },
        }),
        quarantine: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 }, required: ['total'], description: 'Records set aside, per projection and in total (GET /v1/quarantine lists them).' },
        versions: { type: 'object', additionalProperties: { type: 'integer' }, description: 'The active version of each projection.' },
        ingest: obj(['ingested', 'rejected'], { ingested: int, rejected: int }, { description: 'Metrics accepted and rejected since the start.' }),
        stream: obj([], { clients: int, lastEventId: { type: ['string', 'null'] } }),
        backlog: { type: 'object' },
        hubHistory: obj(['capture', 'readFromCapture', 'gapEvents', 'gaps'], {
          capture: { type: 'string', enum: ['configured', 'off'], description: 'Whether Event Hubs Capture is read for what the hub no longer retains.' },
          readFromCapture: { ...int, description: 'Events read from Capture since the start (a checkpoint older than the retention).' },
          gapEvents: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 }, description: 'Per partition, events gone past: neither retained nor captured.' },
          gaps: { type: 'array', items: obj(['partitionId', 'from', 'to', 'at'], { partitionId: str, from: int, to: int, at: { type: 'string', format: 'date-time' } }), description: 'The newest 100 gaps gone past (information: the projections run on without those events).' },
          retention: { type: ['object', 'null'], description: 'Per partition (`partitions`), the hub\'s earliest and last retained sequence numbers and times and what Capture holds; looked up every minute (`at`), null before the first answer.' },
        }, { description: 'Event Hubs only: history the hub no longer retains.' }),
        storage: obj(['kind'], {
          kind: { type: 'string', enum: ['embedded-azurite', 'tables'], description: 'tables: TABLES_CONNECTION_STRING; embedded-azurite: the Azurite the service runs and restarts.' },
          running: { type: 'boolean' }, pid: { type: ['integer', 'null'] }, port: int, restarts: int, lastExit: { type: ['string', 'null'] },
        }),
      }),
    },
  },
  security: [{ bearer: [] }, {}],
  paths: {
    '/v1/spoc': {
      post: {
        operationId: 'postSpocMessage',
        tags: ['ingest'],
        summary: 'Ingest one SPOC message',
        description: 'Validates each metric (see SpocMessage and SpocMetric), appends the valid ones to the log and answers which were rejected. ' +
          'With an Idempotency-Key seen before, the first answer is given again and nothing is appended.',
        parameters: [{
          name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string' },
          description: 'Any string naming this message; a retry with the same key is answered as the first post (`"duplicate": true`). Empty means none.',
        }],
        requestBody: {
          required: true,
          description: 'The SPOC message, read as JSON whatever the Content-Type.',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/SpocMessage' }, example: { metrics: [exampleMetric] } } },
        },
        responses: {
          '202': json({ $ref: '#/components/schemas/IngestAnswer' }, 'Accepted: the valid metrics are in the log; each rejected one with its index and reason',
            { accepted: 1, rejected: [{ index: 1, reason: 'timestamp 1790000100000 looks like epoch milliseconds (2026-09-21T14:15:00Z): send epoch seconds' }] }),
          '400': {
            description: 'Not JSON (`invalid_json`), or not a SPOC message: not an object, or no `metrics` array (`invalid_message`)',
            content: { 'application/json': { schema: errorRef, example: { error: { code: 'invalid_message', parameter: 'metrics', message: 'a SPOC message must have a "metrics" array' } } } },
          },
          '401': unauthorized,
          '413': errorResponse('Body above 256 KB (`payload_too_large`)'),
          '503': errorResponse('The log is unavailable; try again'),
        },
      },
    },
    '/v1/get-data': {
      get: {
        operationId: 'getData',
        tags: ['windows'],
        summary: 'Cross-tenant minute averages of one key, bucketed',
        parameters: [KEY_PARAM, ...rangeParams],
        responses: {
          '200': json(obj(['key', 'minutes', 'aggregationInterval', 'aggregationBy', 'data'], {
            key: str, minutes: int, aggregationInterval: int, aggregationBy: { type: 'string', enum: [...AGGREGATION_BY] },
            data: { type: 'array', items: { $ref: '#/components/schemas/Bucket' }, description: 'Ascending by timestamp; empty for an unknown key.' },
          }, { additionalProperties: false }), 'OK', {
            key: 'win_cpu.percent_processor_time', minutes: 60, aggregationInterval: 5, aggregationBy: 'p95',
            data: [{ timestamp: 1700000100, value: 96.8, count: 9986, windows: 5, low: 0.1, high: 99.8, vms: 1998, expectedVms: 2000, final: true }],
          }),
          '400': badRequest(),
          '401': unauthorized,
          '503': unavailable,
        },
      },
    },
    '/v1/get-tenant-data': {
      get: {
        operationId: 'getTenantData',
        tags: ['windows'],
        summary: "One VM's minute averages of one key, bucketed, with the cross-tenant average beside each point",
        parameters: [KEY_PARAM, q('tenant', { type: 'string', minLength: 1 }, true, 'MaskedTenantId (URL-encoded: it holds `+`, `/` and `=`).'), q('vm', { type: 'string', minLength: 1 }, true, 'MaskedVMName (URL-encoded).'), ...rangeParams],
        responses: {
          '200': json(obj(['key', 'tenant', 'vm', 'minutes', 'aggregationInterval', 'aggregationBy', 'data'], {
            key: str, tenant: str, vm: str, minutes: int, aggregationInterval: int, aggregationBy: { type: 'string', enum: [...AGGREGATION_BY] },
            data: {
              type: 'array',
              items: obj([...Object.keys(bucketProperties), 'average'], { ...bucketProperties, average: { type: ['number', 'null'], description: 'The cross-tenant bucket value at the same timestamp, null when none.' } }, { additionalProperties: false }),
            },
          }, { additionalProperties: false }), 'OK', {
            key: 'win_cpu.percent_processor_time', tenant: 'T0+sim/0==', vm: 'Shared0vm0/sim=', minutes: 30, aggregationInterval: 1, aggregationBy: 'avg',
            data: [{ timestamp: 1700000100, value: 51.3, count: 1, windows: 1, low: 51.3, high: 51.3, final: false, average: 47.9 }],
          }),
          '400': badRequest(),
          '401': unauthorized,
          '503': unavailable,
        },
      },
    },
    '/v1/top': {
      get: {
        operationId: 'getTopVms',
        tags: ['windows'],
        summary: 'The VMs with the highest value of one key over a range',
        description: 'The `n` VMs with the highest value of the key over the `minutes` minutes ending at `to` (or at the key\'s newest cross-tenant window), highest first; ' +
          'ties by tenant, then VM. `avg`: the mean of the VM\'s metrics in the range (its windows\' sums over their counts); `max`: its largest metric; ' +
          '`p95`: the value at rank ⌊0.95·(count−1)⌋ of its metrics sorted ascending, as get-tenant-data\'s p95: exact when each of its minute windows holds one or two values, ' +
          'else within 1% (a window of more keeps a DDSketch; one folded before sketches were kept: its min and max exact, the others at their mean). VMs without a metric of the key in the range are left out.',
        parameters: [
          KEY_PARAM,
          q('minutes', { type: 'integer', minimum: 1, maximum: 1440, default: 60 }, false, 'How many minutes back from `to` (inclusive of the window at `to`).'),
          q('n', { type: 'integer', minimum: 1, maximum: 1000, default: 10 }, false, 'How many VMs.'),
          q('by', { type: 'string', enum: ['avg', 'max', 'p95'], default: 'avg' }, false, 'What the VMs are ranked by.'),
          rangeParams[3],
        ],
        responses: {
          '200': json(obj(['key', 'minutes', 'by', 'data'], {
            key: str, minutes: int, by: { type: 'string', enum: ['avg', 'max', 'p95'] },
            data: {
              type: 'array', description: 'Highest first; empty for an unknown key.',
              items: obj(['tenant', 'vm', 'value', 'count'], {
                tenant: str, vm: str, value: { type: 'number', description: 'The VM\'s avg, max or p95 over the range.' }, count: { type: 'integer', description: 'The VM\'s metrics in the range.' },
              }, { additionalProperties: false }),
            },
          }, { additionalProperties: false }), 'OK', {
            key: 'win_cpu.percent_processor_time', minutes: 15, by: 'p95',
            data: [{ tenant: 'T0+sim/0==', vm: 'Shared0vm3/sim=', value: 97.5, count: 15 }, { tenant: 'T3+sim/3==', vm: 'Shared3vm1/sim=', value: 91.2, count: 15 }],
          }),
          '400': badRequest(),
          '401': unauthorized,
          '503': unavailable,
        },
      },
    },
    '/v1/keys': {
      get: {
        operationId: 'listKeys',
        tags: ['windows'],
        summary: 'Known counter keys and the start of each one\'s newest window',
        responses: {
          '200': json(obj(['keys'], { keys: { type: 'array', items: obj(['key', 'newest'], { key: str, newest: { type: ['integer', 'null'], description: 'Epoch seconds.' } }, { additionalProperties: false }) } }, { additionalProperties: false }), 'OK',
            { keys: [{ key: 'win_cpu.percent_processor_time', newest: 1700003540 }] }),
          '400': badRequest('This route takes no parameters'),
          '401': unauthorized,
          '503': unavailable,
        },
      },
    },
    '/v1/tenants': {
      get: {
        operationId: 'listTenants',
        tags: ['windows'],
        summary: 'Known tenants and their VMs',
        responses: {
          '200': json(obj(['tenants'], { tenants: { type: 'array', items: obj(['tenant', 'vms'], { tenant: str, vms: { type: 'array', items: str } }, { additionalProperties: false }) } }, { additionalProperties: false }), 'OK',
            { tenants: [{ tenant: 'T0+sim/0==', vms: ['Shared0vm0/sim='] }] }),
          '400': badRequest('This route takes no parameters'),
          '401': unauthorized,
          '503': unavailable,
        },
      },
    },
    '/v1/rejects': {
      get: {
        operationId: 'listRejects',
        tags: ['ledgers'],
        summary: 'Rejected metrics, with their reasons',
        parameters: [LIMIT_PARAM],
        responses: {
          '200': json(obj(['rejects'], { rejects: { type: 'array', items: { $ref: '#/components/schemas/Reject' } } }), 'OK', {
            rejects: [{ row: '00000000000000000042-00003', index: 3, reason: 'PerfValue must be a number, got the string "12"', raw: '{"timestamp":1700000100,"PerfValue":"12"}', source: 'http', receivedAt: '2023-11-14T22:15:00.000Z' }],
          }),
          '400': badRequest(),
          '401': unauthorized,
          '503': unavailable,
        },
      },
    },
    '/v1/late': {
      get: {
        operationId: 'listLateMetrics',
        tags: ['ledgers'],
        summary: 'The late-events ledger: metrics later than WINDOW_ALLOWED_LATENESS_SECONDS behind the watermark, in log order',
        parameters: [
          q('projection', { type: 'string', minLength: 1, default: 'windows' }, false, 'The windows projection\'s ledger (the default) or a declared projection\'s (400 for any other name).'),
          LIMIT_PARAM,
          q('key', { type: 'string', minLength: 1 }, false, 'Only metrics of this counter key.'),
          q('tenant', { type: 'string', minLength: 1 }, false, 'Only metrics of this tenant.'),
        ],
        responses: {
          '200': json(obj(['late'], {
            late: {
              type: 'array',
              items: obj(['key', 'tenant', 'vm', 't', 'value', 'watermark', 'position', 'index'], {
                key: str, tenant: str, vm: str,
                t: { type: 'number', description: 'Event time, epoch seconds.' }, value: num,
                watermark: { type: 'number', description: 'The watermark the metric met (epoch seconds).' },
                position: { type: 'integer', description: 'Log position of its record (an Event Hubs sequence number with partition).' },
                index: { type: 'integer', description: 'Its index in the record (the SPOC message).' },
                partition: { type: 'string', description: 'The Event Hubs partition (absent on the file log).' },
              }),
            },
          })),
          '400': badRequest(),
          '401': unauthorized,
          '404': notServed('no late-events ledger'),
          '503': unavailable,
        },
      },
    },
    '/v1/quarantine': {
      get: {
        operationId: 'listQuarantine',
        tags: ['ledgers'],
        summary: 'Records (or single metrics) a projection could not apply and set aside, by projection and log position',
        description: 'What the quarantine ledgers of the active projection versions hold: each entry names the projection, the log position of the record, ' +
          'the metric index within it (null when the whole record was set aside), the reason, and what was set aside (truncated). The fold went on past each. ' +
          'A metric of a log record written before the gate that the gate refuses is set aside here by the windows projection, with the gate\'s reason (as in GET /v1/rejects).',
        parameters: [
          q('projection', { type: 'string', minLength: 1, examples: ['windows', 'rejects', 'backlog', 'cpu_by_region'] }, false, 'Only this projection\'s ledger: windows, rejects, backlog or a declared projection\'s name (400 for any other). Without it, every projection\'s, the declared ones last.'),
          LIMIT_PARAM,
        ],
        responses: {
          '200': json(obj(['quarantine'], {
            quarantine: {
              type: 'array',
              items: obj(['projection', 'position', 'index', 'reason', 'raw', 'quarantinedAt'], {
                projection: str, position: int, index: { type: ['integer', 'null'] }, reason: str,
                raw: { type: ['string', 'null'] }, quarantinedAt: { type: 'string', format: 'date-time' },
                partition: { type: 'string', description: 'On Event Hubs: the partition whose position it is.' },
              }),
            },
          })),
          '400': badRequest(),
          '401': unauthorized,
          '404': notServed('no quarantine ledgers'),
          '503': unavailable,
        },
      },
    },
    '/v1/backlog': {
      get: {
        operationId: 'getBacklog',
        tags: ['backlog'],
        summary: "One team's daily backlog snapshots: the last sample of each local date in the team's time zone",
        parameters: [
          q('team', { type: 'string', minLength: 1 }, true),
          q('from', { type: 'string', format: 'date' }, false, 'First local date, YYYY-MM-DD (inclusive).'),
          q('to', { type: 'string', format: 'date' }, false, 'Last local date, YYYY-MM-DD (inclusive).'),
          q('format', { type: 'string', enum: ['json', 'csv'], default: 'json' }, false, 'csv: timestamp,backlog_incident_count,date,samples,change,gap_days,team, the timestamp in local time with its offset.'),
        ],
        responses: {
          '200': {
            description: 'OK',
            content: {
              'application/json': {
                schema: obj(['team', 'timezone', 'data'], {
                  team: str, timezone: { type: 'string', description: 'IANA zone of the dates.' },
                  data: {
                    type: 'array',
                    items: obj(['date', 'count', 'sampledAt', 'samples', 'change', 'gapDays'], {
                      date: { type: 'string', format: 'date' }, count: int, sampledAt: { type: 'string', format: 'date-time' },
                      samples: int, change: { type: ['integer', 'null'], description: 'Against the previous snapshot; null for the first.' }, gapDays: int,
                    }),
                  },
                }),
                example: { team: 'EUC', timezone: 'America/New_York', data: [{ date: '2024-03-04', count: 42, sampledAt: '2024-03-05T00:00:00.000Z', samples: 1, change: null, gapDays: 0 }] },
              },
              'text/csv': { schema: str },
            },
          },
          '400': badRequest(),
          '401': unauthorized,
          '404': notServed('no backlog projection'),
          '503': unavailable,
        },
      },
    },
    '/v1/backlog/teams': {
      get: {
        operationId: 'listBacklogTeams',
        tags: ['backlog'],
        summary: 'Teams with backlog snapshots',
        responses: {
          '200': json(obj(['timezone', 'teams'], {
            timezone: { type: 'string', description: 'BACKLOG_TIMEZONE.' },
            teams: {
              type: 'array',
              items: obj(['team', 'from', 'to', 'snapshots', 'samples'], {
                team: str, timezone: { type: 'string', description: 'The team\'s own zone.' },
                from: { type: ['string', 'null'], format: 'date' }, to: { type: ['string', 'null'], format: 'date' }, snapshots: int, samples: int,
              }),
            },
          })),
          '400': badRequest('This route takes no parameters'),
          '401': unauthorized,
          '404': notServed('no backlog projection'),
          '503': unavailable,
        },
      },
    },
    '/v1/projections': {
      get: {
        operationId: 'listProjections',
        tags: ['projections'],
        summary: 'The declared projections: definition, status (building while its first build runs, then live) and active version',
        responses: {
          '200': json(obj(['projections'], {
            projections: { type: 'array', items: obj(['name', 'definition', 'status', 'version'], { name: str, definition: { $ref: '#/components/schemas/ProjectionDefinition' }, status: { type: 'string', enum: ['building', 'live'] }, version: { type: ['integer', 'null'] } }) },
          }), 'OK', { projections: [{ name: 'cpu_by_region', definition: { name: 'cpu_by_region', where: { key: ['win_cpu.percent_processor_time'] }, groupBy: ['Region'], window: '5m', aggregates: ['count', 'avg', 'p95', 'vms'] }, status: 'live', version: 1 }] }),
          '400': badRequest('This route takes no parameters'),
          '401': unauthorized,
          '404': notServed('no declared projections: on Event Hubs'),
          '503': unavailable,
        },
      },
    },
    '/v1/projections/{name}': {
      get: {
        operationId: 'getProjection',
        tags: ['projections'],
        summary: "A declared projection's windows, ascending by windowStart, then by group (a group's null values first); by default the newest 60 windows",
        description: 'Each grouped field of the definition is also a parameter: `?Region=westeurope` keeps that group. Aggregates are those the definition names; ' +
          'quantiles (p50…p99) are within 1% of the exact one (DDSketch); `vms` counts distinct (tenant, VM) pairs exactly. On Event Hubs the partitions\' shares are merged.',
        parameters: [
          { name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,47}$' } },
          q('from', { type: 'string' }, false, 'Epoch seconds or ISO 8601, floored to the window: the first window start (inclusive). Default: 59 windows before `to`. A range of more than 10,080 windows is a 400 naming `from`.'),
          q('to', { type: 'string' }, false, 'Epoch seconds or ISO 8601, floored to the window: the last window start (inclusive). Default: the newest window.'),
          q('format', { type: 'string', enum: ['json', 'csv'], default: 'json' }, false, 'csv: windowStart (ISO 8601), the grouped fields, the aggregates, revision.'),
        ],
        responses: {
          '200': {
            description: 'OK',
            content: {
              'application/json': {
                schema: obj(['name', 'window', 'groupBy', 'data'], {
                  name: str, window: { type: 'string', enum: ['1m', '5m', '15m', '1h', '1d'] }, groupBy: { type: 'array', items: str },
                  data: {
                    type: 'array',
                    items: obj(['windowStart', 'group', 'revision'], {
                      windowStart: int, group: { type: 'object', additionalProperties: { type: ['string', 'null'] } }, revision: { type: 'integer', minimum: 1 },
                      count: int, sum: num, avg: { type: ['number', 'null'] }, min: { type: ['number', 'null'] }, max: { type: ['number', 'null'] },
                      p50: { type: ['number', 'null'] }, p90: { type: ['number', 'null'] }, p95: { type: ['number', 'null'] }, p99: { type: ['number', 'null'] }, vms: int,
                    }, { additionalProperties: false }),
                  },
                }),
                example: { name: 'cpu_by_region', window: '5m', groupBy: ['Region'], data: [{ windowStart: 1700000100, group: { Region: 'westeurope' }, count: 412, avg: 48.7, p95: 91.2, vms: 206, revision: 1 }] },
              },
              'text/csv': { schema: str },
            },
          },
          '400': badRequest(),
          '401': unauthorized,
          '404': errorResponse('No declared projection has this name (`not_found`)'),
          '503': {
            description: 'The projection is being built (`building`; Retry-After), or the table storage is unavailable',
            headers: retryAfter,
            content: { 'application/json': { schema: errorRef } },
          },
        },
      },
    },
    '/v1/stream/projections/{name}': {
      get: {
        operationId: 'streamProjection',
        tags: ['projections'],
        summary: "A declared projection's window revisions as Server-Sent Events: one `window` event (with its `id`) per revision",
        description: 'Resume with `Last-Event-ID`: what was missed is sent from the last 10,000 events of the projection; when more was missed, or the service restarted since, ' +
          '`event: reset` comes first: read GET /v1/projections/{name} again, then follow.',
        parameters: [
          { name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,47}$' } },
          { name: 'Last-Event-ID', in: 'header', required: false, schema: str, description: 'Resume after this event id.' },
        ],
        responses: {
          '200': { description: 'An endless text/event-stream', content: { 'text/event-stream': { schema: str, example: 'retry: 2000\n\nid: lq3x-7\nevent: window\ndata: {"windowStart":1700000100,"group":{"Region":"westeurope"},"count":412,"revision":1}\n\n' } } },
          '400': badRequest('This route takes no parameters'),
          '401': unauthorized,
          '404': errorResponse('No declared projection has this name, or no stream is served (on Event Hubs: poll GET /v1/projections/{name})'),
          '503': {
            description: 'OPSFOLD_SSE_MAX_CLIENTS clients are connected (`too_many_clients`); try again after Retry-After seconds',
            headers: retryAfter,
            content: { 'application/json': { schema: errorRef } },
          },
        },
      },
    },
    '/v1/stream/windows': {
      get: {
        operationId: 'streamWindows',
        tags: ['windows'],
        summary: 'Window events as Server-Sent Events: one `window` event (with its `id`) per emitted window revision, or (`emit=final`) one per window, when final',
        description: 'Each `data` is a WindowEvent. `emit=changes` (the default): every revision, `final: false`; ids are the emission\'s processing time in microseconds, ' +
          'counting on within a millisecond. `emit=final`: each window once, when the watermark has passed its end plus WINDOW_ALLOWED_LATENESS_SECONDS, with its last ' +
          'values and `final: true` (ksqlDB\'s EMIT FINAL); ids are the window\'s start in microseconds plus its rank among the windows of that start (cross-tenant by key, ' +
          'then per-VM by tenant, VM and key), the same after a restart, so each window is sent once, also across reconnections with Last-Event-ID. Not on Event Hubs (400). ' +
          'Resume with the `Last-Event-ID` header (from a durable history of the last OPSFOLD_WINDOW_HISTORY_HOURS). Heartbeat comments every ' +
          'OPSFOLD_SSE_HEARTBEAT_SECONDS. A client with more than OPSFOLD_SSE_MAX_BUFFERED_BYTES waiting is sent `event: overflow` and disconnected; ' +
          '`event: truncated` first when the history no longer reaches back to `Last-Event-ID`; `event: unavailable` when the history cannot be read. ' +
          'Beyond OPSFOLD_SSE_MAX_CLIENTS clients, 503 with Retry-After.',
        parameters: [
          q('key', { type: 'string', minLength: 1 }, false, 'Only windows of this counter key.'),
          q('tenant', { type: 'string', minLength: 1 }, false, 'With vm: only the per-VM windows of this VM.'),
          q('vm', { type: 'string', minLength: 1 }, false, 'With tenant.'),
          q('grouping', { type: 'string', enum: ['cross', 'vm'] }, false, 'Only cross-tenant or only per-VM windows.'),
          q('emit', { type: 'string', enum: ['changes', 'final'], default: 'changes' }, false, 'changes: every revision; final: each window once, when final, with its last values.'),
          { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string', pattern: '^[0-9]{1,16}$' }, description: 'Resume after this event id.' },
        ],
        responses: {
          '200': {
            description: 'An endless text/event-stream: `id: N`, `event: window`, `data: {…WindowEvent…}` per revision (or final window); a cross-tenant window carries `vms` and `expectedVms`, as get-data\'s buckets',
            content: { 'text/event-stream': { schema: str, example: 'retry: 2000\n: connected\n\nid: 1700000400000000\nevent: window\ndata: {"id":1700000400000000,"key":"win_cpu.percent_processor_time","windowStart":1700000400,"count":3,"sum":177,"min":41.5,"max":77,"avg":59,"revision":2,"vms":3,"expectedVms":3,"final":true}\n\n' } },
          },
          '400': badRequest('Invalid parameter (an `emit` other than changes or final; `emit=final` on Event Hubs), tenant without vm, or a Last-Event-ID that is not an event id'),
          '401': unauthorized,
          '404': notServed('no window stream'),
          '503': {
            description: 'OPSFOLD_SSE_MAX_CLIENTS clients are connected (`too_many_clients`); try again after Retry-After seconds',
            headers: retryAfter,
            content: { 'application/json': { schema: errorRef } },
          },
        },
      },
    },
    '/healthz': {
      get: {
        operationId: 'getHealth',
        tags: ['operations'],
        summary: 'Health: 200 only when all is well',
        security: [],
        responses: {
          '200': json({ $ref: '#/components/schemas/Health' }, 'All is well (`status` "ok", no problems)', { status: 'ok', problems: [], source: 'api', simulated: false, storage: { kind: 'embedded-azurite' } }),
          '503': json({ $ref: '#/components/schemas/Health' }, 'Something is wrong: `status` "failing", one sentence per problem',
            { status: 'failing', problems: ['storage: unreachable: connect ECONNREFUSED 127.0.0.1:10002'], source: 'api', simulated: false, storage: { kind: 'tables' } }),
        },
      },
    },
    '/metrics': {
      get: {
        operationId: 'getMetrics',
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        security: [],
        responses: { '200': { description: 'OK', content: { 'text/plain': { schema: str, example: '# HELP opsfold_metrics_ingested_total …\n# TYPE opsfold_metrics_ingested_total counter\n' } } } },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'getOpenApiDocument',
        tags: ['operations'],
        summary: 'This document',
        security: [],
        responses: { '200': json(obj(['openapi', 'info', 'paths'], { openapi: str, info: { type: 'object' }, paths: { type: 'object' } })) },
      },
    },
  },
} as const;
