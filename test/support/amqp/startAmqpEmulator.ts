/**
 * A test fixture: an AMQP 1.0 server on `rhea`, enough of Event Hubs and Service Bus for the
 * real `@azure/event-hubs` and `@azure/service-bus` clients. It listens on 127.0.0.1 (port 0),
 * accepts SASL ANONYMOUS and every CBS token, and routes each link by its address to a hub
 * (eventHubs.ts) or a queue (serviceBus.ts). Not product code: no auth, no persistence.
 *
 * @example
 * const emu = await startAmqpEmulator({ eventHubs: [{ name: 'opsfold-events', partitions: 4 }], queues: [{ name: 'spoc-metrics' }] });
 * const client = new ServiceBusClient(emu.connectionString());
 * // … then close every client, and finally `await emu.close()`.
 */
import { once } from 'node:events';
import type { AddressInfo, Server, Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { create_container, type AmqpError, type Connection, type EventContext, type Receiver, type Sender, type link } from 'rhea';
import { answerAttach, reply, transferBytes } from './amqpLinks';
import { handleCbsRequest } from './cbs';
import { EmulatedEventHub, type EventHubOptions } from './eventHubs';
import { EmulatedQueue, type QueueOptions, type SubQueue } from './serviceBus';

export type { EventHubOptions, StoredEvent } from './eventHubs';
export type { QueueOptions, QueuedMessage } from './serviceBus';

export interface AmqpEmulatorOptions {
  eventHubs?: EventHubOptions[];
  queues?: QueueOptions[];
}

export interface AmqpEmulator {
  readonly port: number;
  /** A connection string for the SDKs, with `EntityPath` when `entity` is given. */
  connectionString(entity?: string): string;
  /** A hub, to inspect its events. */
  hub(name: string): EmulatedEventHub;
  /** A queue, to inspect its active, dead-lettered and completed messages. */
  queue(name: string): EmulatedQueue;
  /** Rejects the next `count` transfers to any hub or queue with `condition` (server-busy: retriable). */
  failNextSends(count: number, condition?: string): void;
  /** Drops every client connection at the socket, as a network failure would; resolves once they are closed. */
  disconnectAll(): Promise<void>;
  /** Closes every connection and stops listening. */
  close(): Promise<void>;
}

/** Resolves when the socket closes (events.once would reject on an 'error' first). */
function closing(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

type Route =
  | { kind: 'cbs' }
  | { kind: 'hubManagement' }
  | { kind: 'queueManagement'; queue: EmulatedQueue; sub: SubQueue }
  | { kind: 'hub'; hub: EmulatedEventHub; path: string[] }
  | { kind: 'queue'; queue: EmulatedQueue; sub: SubQueue }
  | { kind: 'unknown' };

export async function startAmqpEmulator(options: AmqpEmulatorOptions = {}): Promise<AmqpEmulator> {
  const hubs = new Map((options.eventHubs ?? []).map((o) => [o.name.toLowerCase(), new EmulatedEventHub(o)]));
  const queues = new Map((options.queues ?? []).map((o) => [o.name.toLowerCase(), new EmulatedQueue(o)]));
  for (const name of hubs.keys()) if (queues.has(name)) throw new Error(`${name} is both an event hub and a queue`);
  const connections = new Set<Connection>();
  const sockets = new Set<Socket>();
  const failing = { count: 0, condition: 'com.microsoft:server-busy' };

  const route = (address: string | undefined): Route => {
    const parts = (address ?? '').replace(/^\//, '').split('/');
    const [first, ...rest] = parts;
    if (parts.length === 1 && first === '$cbs') return { kind: 'cbs' };
    if (parts.length === 1 && first.toLowerCase() === '$management') return { kind: 'hubManagement' };
    const queue = queues.get(first.toLowerCase());
    if (queue && rest[rest.length - 1]?.toLowerCase() === '$management') {
      const sub = queue.subQueue(rest.slice(0, -1));
      return sub ? { kind: 'queueManagement', queue, sub } : { kind: 'unknown' };
    }
    if (queue) {
      const sub = queue.subQueue(rest);
      return sub ? { kind: 'queue', queue, sub } : { kind: 'unknown' };
    }
    const hub = hubs.get(first.toLowerCase());
    return hub ? { kind: 'hub', hub, path: rest } : { kind: 'unknown' };
  };

  const refuse = (l: link, error: AmqpError): void => l.close(error);
  const notFound = (address: string | undefined): AmqpError => ({ condition: 'amqp:not-found', description: `The messaging entity '${address}' could not be found.` });

  /** A client sender attached: we receive on `link`. */
  const onIncomingLink = (l: Receiver): void => {
    const address = l.target?.address;
    const r = route(address);
    if (r.kind === 'hub') {
      answerAttach(l, r.hub.maxMessageBytes);
      const error = r.hub.checkSendPath(r.path);
      if (error) refuse(l, error);
    } else if (r.kind === 'queue') {
      answerAttach(l, r.queue.maxMessageBytes);
      if (r.sub !== r.queue.subQueue([])) refuse(l, { condition: 'amqp:not-allowed', description: `cannot send to ${address}` });
    } else {
      answerAttach(l);
      if (r.kind === 'unknown') refuse(l, notFound(address));
    }
  };

  /** A client receiver attached: we send on `link`. */
  const onOutgoingLink = (l: Sender): void => {
    const address = l.source?.address;
    const r = route(address);
    answerAttach(l);
    if (r.kind === 'hub') {
      const error = r.hub.attachReader(l, r.path);
      if (error) refuse(l, error);
    } else if (r.kind === 'queue') {
      r.sub.attach(l);
    } else if (r.kind === 'unknown') {
      refuse(l, notFound(address));
    }
  };

  const onTransfer = (context: EventContext): void => {
    const delivery = context.delivery;
    const request = context.message;
    if (!delivery || request === undefined) return;
    const r = route(context.receiver?.target?.address);
    switch (r.kind) {
      case 'cbs':
        delivery.accept();
        return handleCbsRequest(context, request);
      case 'hubManagement': {
        delivery.accept();
        const hub = hubs.get(String(request.application_properties?.name).toLowerCase());
        return reply(context, request, hub ? hub.read(request) : { status: 404, condition: 'amqp:not-found', description: `no event hub ${request.application_properties?.name}` });
      }
      case 'queueManagement':
        delivery.accept();
        return reply(context, request, r.queue.manage(r.sub, request));
      case 'hub':
      case 'queue': {
        const maxBytes = r.kind === 'hub' ? r.hub.maxMessageBytes : r.queue.maxMessageBytes;
        const bytes = transferBytes(context);
        if (failing.count > 0) {
          failing.count--;
          return delivery.reject({ condition: failing.condition, description: 'injected failure (emulator failNextSends)' });
        }
        if (bytes > maxBytes) {
          return delivery.reject({ condition: 'amqp:link:message-size-exceeded', description: `the message has ${bytes} bytes, above the ${maxBytes} allowed` });
        }
        if (r.kind === 'hub') r.hub.store(context, r.path);
        else r.queue.store(context);
        return delivery.accept();
      }
      default:
        return delivery.reject(notFound(context.receiver?.target?.address));
    }
  };

  const container = create_container({ id: 'opsfold-amqp-emulator' });
  container.sasl_server_mechanisms.enable_anonymous();
  container.on('connection_open', (c: EventContext) => connections.add(c.connection));
  // A client may close its connection without detaching its links first, or just vanish.
  const forget = (c: EventContext): void => {
    connections.delete(c.connection);
    for (const entity of [...hubs.values(), ...queues.values()]) entity.dropConnection(c.connection);
  };
  container.on('connection_close', forget);
  container.on('disconnected', forget);
  container.on('receiver_open', (c: EventContext) => c.receiver && onIncomingLink(c.receiver));
  container.on('sender_open', (c: EventContext) => c.sender && onOutgoingLink(c.sender));
  container.on('message', onTransfer);
  // Clients detach with errors and drop sockets; an unhandled rhea 'error' event would throw.
  for (const event of ['error', 'connection_error', 'protocol_error', 'session_error', 'sender_error', 'receiver_error']) container.on(event, () => {});

  const server = container.listen({
    host: '127.0.0.1',
    port: 0,
    transport: 'tcp',
    receiver_options: { autoaccept: false },
    sender_options: { treat_modified_as_released: false },
  } as never) as Server;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    connectionString(entity?: string): string {
      const base = `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=k;SharedAccessKey=x;UseDevelopmentEmulator=true`;
      return entity === undefined ? base : `${base};EntityPath=${entity}`;
    },
    hub(name: string): EmulatedEventHub {
      const hub = hubs.get(name.toLowerCase());
      if (!hub) throw new Error(`the emulator has no event hub ${name}`);
      return hub;
    },
    queue(name: string): EmulatedQueue {
      const queue = queues.get(name.toLowerCase());
      if (!queue) throw new Error(`the emulator has no queue ${name}`);
      return queue;
    },
    failNextSends(count: number, condition = 'com.microsoft:server-busy'): void {
      failing.count = count;
      failing.condition = condition;
    },
    async disconnectAll(): Promise<void> {
      const closed = [...sockets].map(closing);
      // With an error, so that rhea hears of it too ('close' alone goes unnoticed by a server connection).
      for (const socket of sockets) socket.destroy(new Error('connection dropped by the emulator'));
      await Promise.all(closed);
    },
    async close(): Promise<void> {
      for (const queue of queues.values()) queue.close();
      for (const connection of connections) connection.close();
      const drained = Promise.all([...sockets].map(closing));
      await Promise.race([drained, delay(500)]);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
