import net from 'node:net';

/**
 * An open-loop load at a fixed rate, as wrk2 and k6's constant-arrival-rate drive one: request i is
 * due at start + i / rate whatever became of the requests before it, and its latency counts from
 * when it was due, not from when a free connection sent it, so a stall of the server shows in every
 * request it held up (no coordinated omission).
 *
 * Why not autocannon's `overallRate`: autocannon gives each connection its share of the second and
 * lets it send that share back to back as soon as the second begins (httpClient.js resets
 * `reqsMadeThisSecond` on a 1 s interval), so "1,000 requests/s" over 16 connections is a burst
 * at full concurrency for part of each second and silence for the rest: its latencies are those of
 * the most the server can take. Requests arriving spread over the second are what a rate means.
 *
 * Like wrk, it speaks HTTP/1.1 on raw keep-alive sockets (each request's bytes made once, a response
 * read to its Content-Length), so that the load generator, which shares the machine with the service,
 * spends little and makes little garbage of its own: its pauses would count as the server's. Free
 * connections are taken in turn, so none idles into the server's keep-alive timeout; one the server
 * closes anyway is replaced, and its request sent again (its latency still counts from when it was due).
 * The pacing timer ticks about every millisecond; requests that fell due since the last tick go out
 * together, and the tick's own lateness is counted in their latency (it errs against the server).
 */
export interface PacedResult {
  /** Each answered request's latency from when it was due, ms, in ascending order. */
  latencies: Float64Array;
  /** Requests answered with a 2xx, per second of the run. */
  rate: number;
  /** Requests not answered with a 2xx. */
  failed: number;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** One keep-alive connection with at most one request on it (`request`: its index, -1 for none). */
class Connection {
  request = -1;
  private readonly socket: net.Socket;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The whole response's length once its head is read; -1 before. */
  private expected = -1;

  constructor(
    port: number, host: string,
    onAnswer: (c: Connection, request: number, status: number) => void,
    onClose: (c: Connection) => void,
    onError: (error: Error) => void,
  ) {
    this.socket = net.connect(port, host);
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => {
      try {
        const status = this.read(chunk);
        if (status === undefined) return;
        const request = this.request;
        this.request = -1;
        onAnswer(this, request, status);
      } catch (error) {
        onError(error as Error);
      }
    });
    this.socket.on('error', () => undefined); // a close follows
    this.socket.on('close', () => onClose(this));
  }

  send(request: number, bytes: Buffer): void {
    this.request = request;
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.removeAllListeners('close');
    this.socket.destroy();
  }

  /** The status once the response is whole; undefined before. */
  private read(chunk: Buffer): number | undefined {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const bytes = this.pending.length === 1 ? chunk : Buffer.concat(this.pending, this.pendingBytes);
    if (this.expected < 0) {
      const headEnd = bytes.indexOf(HEADER_END);
      if (headEnd < 0) return undefined;
      const head = bytes.toString('latin1', 0, headEnd);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (!length) throw new Error(`a response without Content-Length: ${head.split('\r\n')[0]}`);
      this.expected = headEnd + HEADER_END.length + Number(length[1]);
    }
    if (bytes.length < this.expected) {
      this.pending = [bytes];
      return undefined;
    }
    if (bytes.length > this.expected) throw new Error('more bytes than one response');
    this.pending = [];
    this.pendingBytes = 0;
    this.expected = -1;
    return Number(bytes.toString('latin1', 9, 12));
  }
}

export async function pacedLoad(options: { base: string; paths: string[]; rate: number; durationS: number; connections: number }): Promise<PacedResult> {
  const { base, paths, rate, durationS, connections } = options;
  const url = new URL(base);
  const requests = paths.map((p) => Buffer.from(`GET ${p} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\n\r\n`, 'latin1'));
  const total = Math.round(rate * durationS);
  const intervalMs = 1000 / rate;
  const latencies = new Float64Array(total);
  let answered = 0;
  let ok = 0;
  let sent = 0;
  /** Requests due while every connection was busy, in order: they go first. */
  const waiting: number[] = [];
  let nextWaiting = 0;
  const free: Connection[] = [];
  const live = new Set<Connection>();
  let finish: () => void = () => undefined;
  let fail: (error: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const start = performance.now();

  const dispatch = (c: Connection, i: number) => c.send(i, requests[i % requests.length]);
  const onAnswer = (c: Connection, i: number, status: number) => {
    latencies[answered++] = performance.now() - (start + i * intervalMs);
    if (status >= 200 && status < 300) ok++;
    if (nextWaiting < waiting.length) dispatch(c, waiting[nextWaiting++]);
    else free.push(c);
    if (answered === total) finish();
  };
  const open = (): Connection => {
    const c = new Connection(Number(url.port), url.hostname, onAnswer, (closed) => {
      live.delete(closed);
      const at = free.indexOf(closed);
      if (at >= 0) free.splice(at, 1);
      const replacement = open();
      if (closed.request >= 0) dispatch(replacement, closed.request);
      else free.push(replacement);
    }, fail);
    live.add(c);
    return c;
  };
  for (let k = 0; k < connections; k++) free.push(open());

  const tick = () => {
    const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
    while (sent < due) {
      if (free.length > 0) dispatch(free.shift()!, sent);
      else waiting.push(sent);
      sent++;
    }
    if (sent < total) setTimeout(tick, 1);
  };
  tick();
  try {
    await done;
  } finally {
    for (const c of live) c.close();
  }
  const elapsedS = (performance.now() - start) / 1000;
  return { latencies: latencies.slice(0, answered).sort(), rate: ok / Math.max(elapsedS, durationS), failed: total - ok };
}
