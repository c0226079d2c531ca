/**
 * Subscribers for the SSE fan-out benchmark, in a worker thread: real clients are other
 * machines, so the harness spreads its reading over threads instead of queueing 1,000 sockets
 * behind one event loop. Each subscriber is a raw socket; it receives the windows in emission
 * order, so the k-th `event: window` it reads is window k, and counting frames in each chunk
 * is enough to time them. Arrival times (ms on process.hrtime's clock) go to a shared array.
 * Resuming subscribers (`lastEventId`) send their requests when told to (`request`), all at once,
 * and only count the windows they read, or read nothing (`paused`).
 */
import { connect, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

export interface SubscriberWork {
  port: number;
  /** Subscribers [from, to) of the shared array, `windows` slots each. */
  from: number;
  to: number;
  windows: number;
  arrivals: SharedArrayBuffer;
  /** Resume: sent as Last-Event-ID; each subscriber's window count goes to `arrivals` slot 0 instead of times. */
  lastEventId?: string;
  /** Resume without reading a byte: the server must hold what it sends within its bound. */
  paused?: boolean;
}

const FRAME = Buffer.from('event: window\n');

function request(socket: Socket, lastEventId?: string): void {
  const resume = lastEventId === undefined ? '' : `Last-Event-ID: ${lastEventId}\r\n`;
  socket.write(`GET /v1/stream/windows HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n${resume}\r\n`);
}

/** One subscriber; `onread` hands each read to us in a reused buffer, skipping the stream machinery. */
function subscribe(port: number, arrivals: Float64Array, lastEventId?: string, paused = false): Promise<Socket> {
  let received = 0;
  let carry: Buffer = Buffer.alloc(0);
  const counting = lastEventId !== undefined;
  const onChunk = (chunk: Buffer) => {
    if (counting) {
      // Counted only: a resume's history is far more frames than a slot per frame could hold.
      if (carry.length > 0 && Buffer.concat([carry, chunk.subarray(0, FRAME.length - 1)]).includes(FRAME)) arrivals[0]++;
      for (let i = chunk.indexOf(FRAME); i >= 0; i = chunk.indexOf(FRAME, i + FRAME.length)) arrivals[0]++;
      carry = Buffer.from(chunk.subarray(Math.max(0, chunk.length - FRAME.length + 1)));
      return;
    }
    const now = Number(process.hrtime.bigint()) / 1e6;
    // A frame marker cut by the chunk boundary is found in the few bytes around it.
    if (carry.length > 0 && Buffer.concat([carry, chunk.subarray(0, FRAME.length - 1)]).includes(FRAME)) arrivals[received++] = now;
    for (let i = chunk.indexOf(FRAME); i >= 0; i = chunk.indexOf(FRAME, i + FRAME.length)) arrivals[received++] = now;
    carry = Buffer.from(chunk.subarray(Math.max(0, chunk.length - FRAME.length + 1)));
  };
  return new Promise((resolve, reject) => {
    const socket = connect({
      port,
      host: '127.0.0.1',
      onread: { buffer: Buffer.allocUnsafe(256 * 1024), callback: (n: number, buffer: Uint8Array) => {
        onChunk(Buffer.from(buffer.buffer, buffer.byteOffset, n));
        return true;
      } },
    }, () => {
      if (paused) socket.pause();
      // Resuming subscribers ask only when told (`request`), all at once, not as they connect.
      if (!counting) request(socket);
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

async function run(work: SubscriberWork): Promise<void> {
  const all = new Float64Array(work.arrivals);
  const sockets: Socket[] = [];
  for (let i = work.from; i < work.to; i += 50) {
    const batch = [];
    for (let c = i; c < Math.min(work.to, i + 50); c++) batch.push(subscribe(work.port, all.subarray(c * work.windows, (c + 1) * work.windows), work.lastEventId, work.paused));
    sockets.push(...(await Promise.all(batch)));
  }
  parentPort?.postMessage('connected');
  parentPort?.on('message', (message: 'request' | 'stop') => {
    if (message === 'request') {
      for (const s of sockets) request(s, work.lastEventId);
      return;
    }
    for (const s of sockets) s.destroy();
    parentPort?.close();
  });
}

if (parentPort && workerData) void run(workerData as SubscriberWork);
