import type { Request, Response } from 'express';
import { CapacityError, InvalidInputError } from '../../core/errors';
import {
  SlowSubscriberError, type FeedEntry, type WindowEventSource, type WindowFilter,
} from '../../core/windowStream';
import { parseQuery, queryString } from './params';

export interface WindowStreamOptions {
  /** Every window revision (`emit=changes`, the default). */
  source: WindowEventSource;
  /** Each window once, when final (`emit=final`); absent: `emit=final` is refused (Event Hubs). */
  finalSource?: WindowEventSource;
  /** A comment line goes to every client this often, so proxies and clients see the stream alive. */
  heartbeatMs: number;
  /** Bytes a client may have waiting in the server; beyond, it is sent `overflow` and disconnected. */
  maxBufferedBytes: number;
  /** Clients streamed to at once; one more is answered 503 with Retry-After. */
  maxClients?: number;
  /** The Retry-After of that 503. */
  retryAfterSeconds?: number;
  /** After the overflow notice, how long the connection may take to drain before it is cut. */
  overflowGraceMs?: number;
  /** The reconnect delay suggested to EventSource clients. */
  retryMs?: number;
}

export interface WindowStreamStats {
  clients: number;
  overflows: number;
  /** Requests answered 503 because `maxClients` were connected. */
  rejected: number;
  /** The most bytes any one client ever had waiting in the server. */
  peakClientBufferedBytes: number;
}

/** `GET /v1/stream/windows`: Server-Sent Events of window events (see the README). */
export interface WindowStream {
  handle(req: Request, res: Response): void;
  stats(): WindowStreamStats;
  /** Ends every stream (the service is stopping). */
  close(): void;
}

const STREAM_PARAMS = ['key', 'tenant', 'vm', 'grouping', 'emit'] as const;

/** What a stream sends: every revision of a window (`changes`), or each window once, when final (`final`). */
export type EmitMode = 'changes' | 'final';

/** The filter and emit mode of a stream request; throws InvalidInputError (a 400) for a bad one. */
export function parseStreamRequest(search: string): { filter: WindowFilter; emit: EmitMode } {
  const params = parseQuery(search, STREAM_PARAMS);
  const emit = params.get('emit') ?? 'changes';
  if (emit !== 'changes' && emit !== 'final') throw new InvalidInputError(`parameter "emit" must be changes or final, got "${emit}"`, { parameter: 'emit' });
  return { filter: filterOf(params), emit };
}

/** The filter of a stream request; throws InvalidInputError (a 400) for a bad one. */
export function parseStreamFilter(search: string): WindowFilter {
  return parseStreamRequest(search).filter;
}

function filterOf(params: Map<string, string>): WindowFilter {
  const filter: WindowFilter = {};
  for (const name of ['key', 'tenant', 'vm'] as const) {
    const v = params.get(name);
    if (v === '') throw new InvalidInputError(`parameter "${name}" must not be empty`, { parameter: name });
    if (v !== undefined) filter[name] = v;
  }
  if ((filter.tenant === undefined) !== (filter.vm === undefined)) {
    const missing = filter.tenant === undefined ? 'tenant' : 'vm';
    throw new InvalidInputError(`parameters "tenant" and "vm" go together; "${missing}" is missing`, { parameter: missing });
  }
  const grouping = params.get('grouping');
  if (grouping !== undefined) {
    if (grouping !== 'cross' && grouping !== 'vm') throw new InvalidInputError(`parameter "grouping" must be cross or vm, got "${grouping}"`, { parameter: 'grouping' });
    if (grouping === 'cross' && filter.tenant !== undefined) throw new InvalidInputError('parameter "grouping" is cross, but tenant and vm select per-VM windows', { parameter: 'grouping' });
    filter.grouping = grouping;
  }
  return filter;
}

/** The `Last-Event-ID` header as an id, undefined when absent; throws for a value that is not one. */
export function parseLastEventId(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const v = header.trim();
  const n = Number(v);
  if (!/^\d{1,16}$/.test(v) || !Number.isSafeInteger(n)) {
    throw new InvalidInputError(`header "Last-Event-ID" must be an event id (digits), got "${v}"`, { parameter: 'Last-Event-ID' });
  }
  return n;
}

/** One connected client: writes while its waiting bytes stay under the bound, else overflows. */
class SseClient {
  closed = false;
  stop: () => void = () => undefined;
  /** Writes not yet handed to the kernel, and who waits for them. */
  private unflushed = 0;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly res: Response,
    private readonly maxBufferedBytes: number,
    private readonly graceMs: number,
    private readonly onOverflow: () => void,
    private readonly onBuffered: (bytes: number) => void,
  ) {}

  /**
   * Writes unless the client already has bytes waiting and these would take it past the bound:
   * a client that keeps up is never cut by one large burst, and one that does not is told.
   */
  send(chunk: string | Buffer): void {
    if (this.closed) return;
    const waiting = this.res.writableLength;
    const bytes = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (waiting > 0 && waiting + bytes > this.maxBufferedBytes) return this.overflow();
    this.unflushed++;
    this.res.write(chunk, this.flushedOne);
    this.onBuffered(this.res.writableLength);
  }

  /**
   * Resolves once every write so far is in the kernel's hands (or the client is gone): the next
   * slice of a resume's history is then written whole, and the kernel's buffers keep the pipe
   * full. A client that stops reading is waited for, not polled.
   */
  drained(): Promise<void> {
    if (this.closed || this.unflushed === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The connection closed: delivery stops, and whoever waits for a drain goes on (to stop). */
  gone(): void {
    this.closed = true;
    this.stop();
    this.wake();
  }

  private readonly flushedOne = (): void => {
    if (--this.unflushed === 0) this.wake();
  };

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  overflow(): void {
    if (this.closed) return;
    this.onOverflow();
    this.end(`event: overflow\ndata: ${JSON.stringify({ maxBufferedBytes: this.maxBufferedBytes, message: 'the client did not keep up; reconnect with Last-Event-ID to resume' })}\n\n`, this.graceMs);
  }

  /** Sends a last frame, ends, and cuts the connection if it has not drained within `graceMs`. */
  end(frame: string, graceMs: number): void {
    if (this.closed) return;
    this.closed = true;
    this.stop();
    this.wake();
    // The connection is not reused: it closes once the last frame is out (or the grace ends).
    const socket = this.res.socket; // detached from the response once it finishes
    this.res.once('finish', () => socket?.end());
    this.res.end(frame);
    const timer = setTimeout(() => this.res.destroy(), graceMs);
    timer.unref();
    this.res.once('close', () => clearTimeout(timer));
  }
}

const frameCache = new WeakMap<FeedEntry, string>();
const batchCache = new WeakMap<readonly FeedEntry[], Buffer>();

function frameOf(e: FeedEntry): string {
  let frame = frameCache.get(e);
  if (frame === undefined) frameCache.set(e, (frame = `id: ${e.window.id}\nevent: window\ndata: ${e.json}\n\n`));
  return frame;
}

/**
 * The frames of a batch as one Buffer. A batch that reaches many clients unfiltered is encoded
 * once, and every connection's write queue holds a reference to the same bytes, not a copy.
 */
function framesOf(entries: readonly FeedEntry[]): Buffer {
  let bytes = batchCache.get(entries);
  if (bytes === undefined) {
    bytes = Buffer.from(entries.length === 1 ? frameOf(entries[0]) : entries.map(frameOf).join(''), 'utf8');
    batchCache.set(entries, bytes);
  }
  return bytes;
}

export function createWindowStream(options: WindowStreamOptions): WindowStream {
  const { source, finalSource, heartbeatMs, maxBufferedBytes, maxClients = 1000, retryAfterSeconds = 10, overflowGraceMs = 5000, retryMs = 2000 } = options;
  const clients = new Set<SseClient>();
  const counters = { overflows: 0, rejected: 0, peakClientBufferedBytes: 0 };
  let heartbeat: NodeJS.Timeout | undefined;
  const ensureHeartbeat = () => {
    if (heartbeat) return;
    heartbeat = setInterval(() => {
      for (const client of clients) client.send(': heartbeat\n\n');
    }, heartbeatMs);
    heartbeat.unref();
  };

  return {
    handle(req: Request, res: Response): void {
      const { filter, emit } = parseStreamRequest(queryString(req));
      const from = emit === 'final' ? finalSource : source;
      if (!from) throw new InvalidInputError('parameter "emit": final is not available here (on Event Hubs, read the final windows from the window-events hub)', { parameter: 'emit' });
      const after = parseLastEventId(req.get('last-event-id'));
      // Each client costs a socket, a slice of history and its waiting bytes: the cap bounds the sum.
      if (clients.size >= maxClients) {
        counters.rejected++;
        throw new CapacityError('too_many_clients', `the window stream has its maximum of ${maxClients} clients (OPSFOLD_SSE_MAX_CLIENTS); try again later`, retryAfterSeconds);
      }
      res.status(200).set({
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache, no-transform',
        'X-Accel-Buffering': 'no',
        Connection: 'close',
      });
      // The stream is delimited by the connection's end, not chunked: one plain write per
      // client per burst (no chunk framing), and nothing to reuse the connection for anyway.
      res.removeHeader('Transfer-Encoding');
      res.removeHeader('Content-Length');
      res.flushHeaders();
      req.socket.setNoDelay(true);
      const client = new SseClient(res, maxBufferedBytes, overflowGraceMs, () => counters.overflows++, (bytes) => {
        if (bytes > counters.peakClientBufferedBytes) counters.peakClientBufferedBytes = bytes;
      });
      clients.add(client);
      ensureHeartbeat();
      res.on('close', () => {
        client.gone();
        clients.delete(client);
        if (clients.size === 0 && heartbeat) {
          clearInterval(heartbeat);
          heartbeat = undefined;
        }
      });
      client.send(`retry: ${retryMs}\n: connected\n\n`);
      client.stop = from.subscribe(filter, {
        next: (entries) => client.send(framesOf(entries)),
        ready: () => client.drained(),
        truncated: (retainedFrom) => client.send(`event: truncated\ndata: ${JSON.stringify({ after, retainedFrom })}\n\n`),
        error: (error) => {
          if (error instanceof SlowSubscriberError) return client.overflow();
          client.end(`event: unavailable\ndata: ${JSON.stringify({ message: 'the window-event history could not be read; reconnect with Last-Event-ID to retry' })}\n\n`, overflowGraceMs);
        },
      }, { after, maxQueuedBytes: maxBufferedBytes });
      if (client.closed) client.stop();
    },

    stats: () => ({ clients: clients.size, ...counters }),

    close(): void {
      if (heartbeat) clearInterval(heartbeat);
      heartbeat = undefined;
      for (const client of clients) client.end('', 1000);
    },
  };
}
