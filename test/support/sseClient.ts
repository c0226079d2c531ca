/**
 * A small Server-Sent Events client for tests, written from the HTML spec's parsing rules
 * (fields `id`, `event`, `data`, `retry`; comment lines start with `:`; a blank line
 * dispatches), sharing no code with the server.
 */
import type { StreamedWindowEvent } from '../../src/core/windowStream';

export interface SseFrame {
  id?: string;
  event: string;
  data: string;
}

export class SseClient {
  readonly frames: SseFrame[] = [];
  readonly comments: string[] = [];
  /** How many `window` events arrived (cheap to poll). */
  windowCount = 0;
  retry?: number;
  ended = false;
  /** The id of the newest frame that had one (what a browser would send as Last-Event-ID). */
  lastEventId?: string;
  private waiters: (() => void)[] = [];

  private constructor(readonly status: number, readonly contentType: string, private readonly abort: AbortController) {}

  /** Connects; resolves once the response headers are in (the body is read in the background). */
  static async connect(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const abort = new AbortController();
    const res = await fetch(url, { headers, signal: abort.signal });
    const client = new SseClient(res.status, res.headers.get('content-type') ?? '', abort);
    if (res.body) void client.read(res.body);
    return client;
  }

  /** The `window` events received, parsed. */
  windows(): StreamedWindowEvent[] {
    return this.frames.filter((f) => f.event === 'window').map((f) => JSON.parse(f.data) as StreamedWindowEvent);
  }

  /** Resolves when `predicate` holds; rejects after `timeoutMs` with what was received so far. */
  async until(predicate: (client: SseClient) => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (Date.now() > deadline) throw new Error(`timed out; received ${JSON.stringify(this.frames).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  close(): void {
    this.abort.abort();
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    let frame: SseFrame = { event: 'message', data: '' };
    let hasData = false;
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
          if (line === '') {
            if (hasData) {
              this.frames.push({ ...frame, data: frame.data.replace(/\n$/, '') });
              if (frame.event === 'window') this.windowCount++;
            }
            frame = { event: 'message', data: '' };
            hasData = false;
            continue;
          }
          if (line.startsWith(':')) {
            this.comments.push(line.slice(1).trim());
            continue;
          }
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') {
            frame.data += `${value}\n`;
            hasData = true;
          } else if (field === 'event') frame.event = value;
          else if (field === 'id') frame.id = this.lastEventId = value;
          else if (field === 'retry') this.retry = Number(value);
        }
        this.wake();
      }
    } catch {
      // aborted or cut
    }
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
