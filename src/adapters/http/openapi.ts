/** Hand-written OpenAPI 3.1 description of the read/ingest API (DESIGN §5). */
const errorRef = { $ref: '#/components/schemas/Error' };
const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: errorRef } } });
const q = (name: string, schema: Record<string, unknown>, required = false, description?: string) => ({ name, in: 'query', required, schema, ...(description ? { description } : {}) });
const rangeParams = [
  q('minutes', { type: 'integer', minimum: 1, maximum: 10080, default: 60 }),
  q('aggregationInterval', { type: 'integer', minimum: 1, maximum: 1440, default: 1 }),
  q('aggregationBy', { type: 'string', enum: ['avg', 'min', 'max'], default: 'avg' }),
  q('to', { type: 'string' }, false, 'Epoch seconds or ISO 8601, floored to the minute; defaults to the newest window.'),
];
const json = (schema: Record<string, unknown>, description = 'OK') => ({ description, content: { 'application/json': { schema } } });

export const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'opsfold API', version: '0.1.0', description: 'Minute-window averages of IT-operations telemetry. Parameter values may be wrapped in double quotes.' },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, parameter: { type: 'string' }, message: { type: 'string' } } } },
      },
      Bucket: {
        type: 'object',
        properties: {
          timestamp: { type: 'integer' }, value: { type: 'number' }, count: { type: 'integer' }, windows: { type: 'integer' }, low: { type: 'number' }, high: { type: 'number' },
        },
      },
    },
  },
  security: [{ bearer: [] }, {}],
  paths: {
    '/v1/spoc': {
      post: {
        summary: 'Ingest one SPOC message',
        parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string' } }],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['metrics'] } } } },
        responses: {
          '202': json({ type: 'object', properties: { accepted: { type: 'integer' }, rejected: { type: 'array', items: { type: 'object', properties: { index: { type: 'integer' }, reason: { type: 'string' } } } }, duplicate: { type: 'boolean' } } }, 'Accepted'),
          '400': errorResponse('Not JSON or not a SPOC message'),
          '401': errorResponse('Missing or wrong bearer token'),
          '413': errorResponse('Body above 256 KB'),
        },
      },
    },
    '/v1/get-data': {
      get: {
        summary: 'Cross-tenant minute averages of one key, bucketed',
        parameters: [q('key', { type: 'string' }, true), ...rangeParams],
        responses: {
          '200': json({ type: 'object', properties: { key: { type: 'string' }, minutes: { type: 'integer' }, aggregationInterval: { type: 'integer' }, aggregationBy: { type: 'string' }, data: { type: 'array', items: { $ref: '#/components/schemas/Bucket' } } } }),
          '400': errorResponse('Invalid parameter'),
          '401': errorResponse('Missing or wrong bearer token'),
        },
      },
    },
    '/v1/get-tenant-data': {
      get: {
        summary: "One VM's minute averages of one key, bucketed, with the cross-tenant average beside each point",
        parameters: [q('key', { type: 'string' }, true), q('tenant', { type: 'string' }, true), q('vm', { type: 'string' }, true), ...rangeParams],
        responses: {
          '200': json({
            type: 'object',
            properties: {
              key: { type: 'string' }, tenant: { type: 'string' }, vm: { type: 'string' }, minutes: { type: 'integer' }, aggregationInterval: { type: 'integer' }, aggregationBy: { type: 'string' },
              data: { type: 'array', items: { allOf: [{ $ref: '#/components/schemas/Bucket' }, { type: 'object', properties: { average: { type: ['number', 'null'] } } }] } },
            },
          }),
          '400': errorResponse('Invalid parameter'),
          '401': errorResponse('Missing or wrong bearer token'),
        },
      },
    },
    '/v1/keys': { get: { summary: 'Known counter keys', responses: { '200': json({ type: 'object', properties: { keys: { type: 'array', items: { type: 'object', properties: { key: { type: 'string' }, newest: { type: ['integer', 'null'] } } } } } }) } } },
    '/v1/tenants': { get: { summary: 'Known tenants and their VMs', responses: { '200': json({ type: 'object', properties: { tenants: { type: 'array', items: { type: 'object', properties: { tenant: { type: 'string' }, vms: { type: 'array', items: { type: 'string' } } } } } } }) } } },
    '/v1/rejects': {
      get: {
        summary: 'Rejected metrics',
        parameters: [q('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 100 })],
        responses: { '200': json({ type: 'object', properties: { rejects: { type: 'array', items: { type: 'object' } } } }), '400': errorResponse('Invalid parameter') },
      },
    },
    '/v1/late': {
      get: {
        summary: 'The late-events ledger: metrics later than WINDOW_ALLOWED_LATENESS_SECONDS behind the watermark, in log order',
        parameters: [
          q('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }),
          q('key', { type: 'string' }, false, 'Only metrics of this counter key.'),
          q('tenant', { type: 'string' }, false, 'Only metrics of this tenant.'),
        ],
        responses: {
          '200': json({
            type: 'object',
            properties: {
              late: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['key', 'tenant', 'vm', 't', 'value', 'watermark', 'position', 'index'],
                  properties: {
                    key: { type: 'string' }, tenant: { type: 'string' }, vm: { type: 'string' },
                    t: { type: 'number', description: 'Event time, epoch seconds.' }, value: { type: 'number' },
                    watermark: { type: 'number', description: 'The watermark the metric met (epoch seconds).' },
                    position: { type: 'integer', description: 'Log position of its record (an Event Hubs sequence number with partition).' },
                    index: { type: 'integer', description: 'Its index in the record (the SPOC message).' },
                    partition: { type: 'string', description: 'The Event Hubs partition (absent on the file log).' },
                  },
                },
              },
            },
          }),
          '400': errorResponse('Invalid parameter'),
          '401': errorResponse('Missing or wrong bearer token'),
        },
      },
    },
    '/v1/quarantine': {
      get: {
        summary: 'Records (or single metrics) a projection could not apply and set aside, by projection and log position',
        description: 'What the quarantine ledgers of the active projection versions hold: each entry names the projection, the log position of the record, ' +
          'the metric index within it (null when the whole record was set aside), the reason, and what was set aside (truncated). The fold went on past each.',
        parameters: [
          q('projection', { type: 'string', enum: ['windows', 'rejects', 'backlog'] }, false, 'Only this projection\'s ledger.'),
          q('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }),
        ],
        responses: {
          '200': json({
            type: 'object',
            properties: {
              quarantine: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['projection', 'position', 'index', 'reason', 'raw', 'quarantinedAt'],
                  properties: {
                    projection: { type: 'string' }, position: { type: 'integer' }, index: { type: ['integer', 'null'] }, reason: { type: 'string' },
                    raw: { type: ['string', 'null'] }, quarantinedAt: { type: 'string', format: 'date-time' },
                    partition: { type: 'string', description: 'On Event Hubs: the partition whose position it is.' },
                  },
                },
              },
            },
          }),
          '400': errorResponse('Invalid parameter'),
          '401': errorResponse('Missing or wrong bearer token'),
        },
      },
    },
    '/v1/backlog': {
      get: {
        summary: "One team's daily backlog snapshots: the last sample of each local date in the backlog time zone",
        parameters: [
          q('team', { type: 'string' }, true),
          q('from', { type: 'string', format: 'date' }, false, 'First local date, YYYY-MM-DD (inclusive).'),
          q('to', { type: 'string', format: 'date' }, false, 'Last local date, YYYY-MM-DD (inclusive).'),
          q('format', { type: 'string', enum: ['json', 'csv'], default: 'json' }, false, 'csv: timestamp,backlog_incident_count,date,samples,change,gap_days,team, the timestamp in local time with its offset.'),
        ],
        responses: {
          '200': {
            description: 'OK',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    team: { type: 'string' }, timezone: { type: 'string' },
                    data: {
                      type: 'array',
                      items: {
                        type: 'object',
                        properties: {
                          date: { type: 'string', format: 'date' }, count: { type: 'integer' }, sampledAt: { type: 'string', format: 'date-time' },
                          samples: { type: 'integer' }, change: { type: ['integer', 'null'] }, gapDays: { type: 'integer' },
                        },
                      },
                    },
                  },
                },
              },
              'text/csv': { schema: { type: 'string' } },
            },
          },
          '400': errorResponse('Invalid parameter'),
          '401': errorResponse('Missing or wrong bearer token'),
        },
      },
    },
    '/v1/backlog/teams': {
      get: {
        summary: 'Teams with backlog snapshots',
        responses: {
          '200': json({
            type: 'object',
            properties: {
              timezone: { type: 'string' },
              teams: { type: 'array', items: { type: 'object', properties: { team: { type: 'string' }, from: { type: ['string', 'null'] }, to: { type: ['string', 'null'] }, snapshots: { type: 'integer' }, samples: { type: 'integer' } } } },
            },
          }),
          '401': errorResponse('Missing or wrong bearer token'),
        },
      },
    },
    '/v1/stream/windows': {
      get: {
        summary: 'Window events as Server-Sent Events: one `window` event (with its `id`) per emitted window revision',
        description: 'Resume with the `Last-Event-ID` header (from a durable history of the last OPSFOLD_WINDOW_HISTORY_HOURS). Heartbeat comments every ' +
          'OPSFOLD_SSE_HEARTBEAT_SECONDS. A client with more than OPSFOLD_SSE_MAX_BUFFERED_BYTES waiting is sent `event: overflow` and disconnected; ' +
          '`event: truncated` first when the history no longer reaches back to `Last-Event-ID`.',
        parameters: [
          q('key', { type: 'string' }, false, 'Only windows of this counter key.'),
          q('tenant', { type: 'string' }, false, 'With vm: only the per-VM windows of this VM.'),
          q('vm', { type: 'string' }, false, 'With tenant.'),
          q('grouping', { type: 'string', enum: ['cross', 'vm'] }, false, 'Only cross-tenant or only per-VM windows.'),
          { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string', pattern: '^[0-9]+$' } },
        ],
        responses: {
          '200': { description: 'An endless text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          '400': errorResponse('Invalid parameter or Last-Event-ID'),
          '401': errorResponse('Missing or wrong bearer token'),
        },
      },
    },
    '/healthz': { get: { summary: 'Health', security: [], responses: { '200': json({ type: 'object' }) } } },
    '/metrics': { get: { summary: 'Prometheus metrics', security: [], responses: { '200': { description: 'OK', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    '/openapi.json': { get: { summary: 'This document', security: [], responses: { '200': json({ type: 'object' }) } } },
  },
} as const;
