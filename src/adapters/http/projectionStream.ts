import type { Request, Response } from 'express';
import type { Observable, Subscription } from 'rxjs';
import { CapacityError } from '../../core/errors';
import { HttpError } from './HttpError';
import { parseQuery, queryString } from './params';

/** A window revision of a declared projection, as emitted by its projector. */
export interface ProjectionEvent {
  name: string;
  [field: string]: unknown;
}

export interface ProjectionStreamOptions {
  events$: Observable<ProjectionEvent>;
  /** Whether a declared projection of this name exists (a stream of an unknown one is a 404). */
  exists(name: string): Promise<boolean>;
  /** Events kept per projection for clients that resume with Last-Event-ID. */
  keep?: number;
  heartbeatMs?: number;
  maxClients?: number;
  /** Bytes a client may have waiting in the server; beyond, it is disconnected (it resumes with Last-Event-ID). */
  maxBufferedBytes?: number;
}

interface Kept {
  seq: number;
  frame: string;
}

/**
 * `GET /v1/stream/projections/{name}`: Server-Sent Events, one `window` event per window revision
 * of a declared projection, with ids. A client that comes back with `Last-Event-ID` gets what it
 * missed from the last `keep` events of that projection; when it missed more (or the service
 * restarted since: ids start again), it gets one `reset` event first: read
 * `GET /v1/projections/{name}` again, then follow.
 */
export class ProjectionStream {
  private readonly recent = new Map<string, Kept[]>();
  /** Per projection, the id of the newest event no longer kept. */
  private readonly letGo = new Map<string, number>();
  private readonly clients = new Set<{ name: string; res: Response }>();
  /** Ids carry the stream's start, so that an id of an earlier run is known as such. */
  private readonly epoch = Date.now().toString(36);
  private seq = 0;
  private readonly subscription: Subscription;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly options: ProjectionStreamOptions) {
    this.subscription = options.events$.subscribe((event) => this.publish(event));
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) c.res.write(': alive\n\n');
    }, options.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
  }

  handle(name: string, req: Request, res: Response): void {
    void this.open(name, req, res).catch((error: unknown) => {
      if (!res.headersSent) res.status(error instanceof HttpError ? error.status : 500).json({ error: { code: (error as HttpError).code ?? 'internal_error', message: (error as Error).message } });
    });
  }

  close(): void {
    this.subscription.unsubscribe();
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  private async open(name: string, req: Request, res: Response): Promise<void> {
    parseQuery(queryString(req), []);
    if (!(await this.options.exists(name))) throw new HttpError(404, 'not_found', `no declared projection is named "${name}"`);
    if (this.clients.size >= (this.options.maxClients ?? 1000)) {
      res.set('Retry-After', '5');
      throw Object.assign(new HttpError(503, 'too_many_clients', 'the projection stream has its most clients; try again later'), { cause: new CapacityError('too_many_clients', 'full', 5) });
    }
    res.status(200).set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    res.write('retry: 2000\n\n');
    const last = req.get('last-event-id');
    if (last !== undefined) {
      const [epoch, seqText] = last.split('-');
      const seq = Number(seqText);
      const kept = this.recent.get(name) ?? [];
      // Resumable when nothing of this projection after `seq` has been let go.
      if (epoch === this.epoch && Number.isInteger(seq) && seq >= 0 && seq <= this.seq && seq >= (this.letGo.get(name) ?? 0)) {
        for (const k of kept) if (k.seq > seq) res.write(k.frame);
      } else {
        res.write(`event: reset\ndata: ${JSON.stringify({ reason: 'events since Last-Event-ID are no longer kept; read GET /v1/projections/' + name + ' again' })}\n\n`);
      }
    }
    const client = { name, res };
    this.clients.add(client);
    req.on('close', () => this.clients.delete(client));
  }

  private publish(event: ProjectionEvent): void {
    const seq = ++this.seq;
    const { name, ...data } = event;
    const frame = `id: ${this.epoch}-${seq}\nevent: window\ndata: ${JSON.stringify(data)}\n\n`;
    const kept = this.recent.get(name) ?? [];
    kept.push({ seq, frame });
    if (kept.length > (this.options.keep ?? 10_000)) this.letGo.set(name, kept.shift()!.seq);
    this.recent.set(name, kept);
    for (const c of this.clients) {
      if (c.name !== name) continue;
      c.res.write(frame);
      if (c.res.writableLength > (this.options.maxBufferedBytes ?? 8 << 20)) {
        // A client that does not read: cut, it resumes from its last id.
        c.res.end();
        this.clients.delete(c);
      }
    }
  }
}
