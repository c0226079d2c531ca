/**
 * Small AMQP helpers shared by the emulator's services: answering an attach the way the Azure
 * SDKs accept, credit accounting for server-side senders, request/reply on `$cbs` and
 * `$management`, decoding batched transfers, and the .NET byte order of lock tokens.
 */
import { message as amqpMessage, string_to_uuid, uuid_to_string, type Delivery, type EventContext, type Message, type Sender, type link } from 'rhea';

/** The message format of a batch: one AMQP message whose data sections are encoded messages. */
export const BATCH_FORMAT = 0x80013700;

/** A link as rhea keeps it internally; the typings omit these fields. */
interface LinkInternals {
  credit: number;
  delivery_count: number;
  local: { attach: { max_message_size?: number; snd_settle_mode?: number; rcv_settle_mode?: number } };
}

function internals(l: link): LinkInternals {
  return l as unknown as LinkInternals;
}

/**
 * Answers an attach with only the addresses (echoing the whole terminus crashes rhea 3.0.5 on
 * null fields), the client's settle modes, and, for links that receive, the largest message.
 */
export function answerAttach(l: link, maxMessageBytes?: number): void {
  l.set_source({ address: l.source?.address ?? '' });
  l.set_target({ address: l.target?.address ?? '' });
  const local = internals(l).local.attach;
  local.snd_settle_mode = l.snd_settle_mode;
  local.rcv_settle_mode = l.rcv_settle_mode;
  if (maxMessageBytes !== undefined) local.max_message_size = maxMessageBytes;
}

/**
 * rhea counts credit only when a delivery is written to the socket, so deliveries handed to a
 * link in the same tick would overrun the client's credit. This tracks what was handed over.
 */
export class Credit {
  private handed = 0;

  constructor(readonly sender: Sender) {}

  /** Deliveries the client will still accept beyond those already handed to rhea. */
  left(): number {
    const { credit, delivery_count: transmitted } = internals(this.sender);
    // A drain consumes credit without deliveries: `transmitted` then runs ahead of `handed`.
    this.handed = Math.max(this.handed, transmitted);
    return this.sender.is_open() ? transmitted + credit - this.handed : 0;
  }

  send(message: Message, tag?: Buffer): Delivery {
    this.handed++;
    return this.sender.send(message, tag);
  }
}

/** The messages of a transfer: one, or each message of a batch. */
export function messagesOf(context: EventContext): Message[] {
  const received = context.message as Message | Buffer | undefined;
  if (received === undefined) return [];
  if (!Buffer.isBuffer(received)) return [received];
  const outer = amqpMessage.decode(received);
  const body = outer.body as { multiple?: boolean; content: Buffer | Buffer[] };
  const parts = body.multiple ? (body.content as Buffer[]) : [body.content as Buffer];
  return parts.map((part) => amqpMessage.decode(part) as unknown as Message);
}

/** Size of a transfer on the wire (re-encoded when rhea already decoded it). */
export function transferBytes(context: EventContext): number {
  const received = context.message as Message | Buffer | undefined;
  if (received === undefined) return 0;
  return Buffer.isBuffer(received) ? received.length : amqpMessage.encode(received).length;
}

export interface Reply {
  status: number;
  body?: unknown;
  description?: string;
  /** An AMQP error condition for a status outside 2xx. */
  condition?: string;
}

/**
 * Sends the answer to a request on the link the client named in `reply_to`. Both spellings of
 * the status are set: core-amqp reads `status-code`, Service Bus's peek reads `statusCode`.
 */
export function reply(context: EventContext, request: Message, answer: Reply): void {
  const replyTo = request.reply_to as string | undefined;
  const link = context.connection.find_sender((s: Sender) => s.name === replyTo || s.target?.address === replyTo);
  if (!link) return;
  const description = answer.description ?? (answer.status < 300 ? 'OK' : 'failed');
  const properties: Record<string, unknown> = {
    'status-code': answer.status,
    statusCode: answer.status,
    'status-description': description,
    statusDescription: description,
  };
  if (answer.condition) {
    properties['error-condition'] = answer.condition;
    properties.errorCondition = answer.condition;
  }
  link.send({ correlation_id: request.message_id, to: replyTo, application_properties: properties, body: answer.body });
}

/** Swaps a 16-byte GUID between RFC 4122 and .NET byte order (the swap is its own inverse). */
export function swapGuidBytes(bytes: Buffer): Buffer {
  return Buffer.from([bytes[3], bytes[2], bytes[1], bytes[0], bytes[5], bytes[4], bytes[7], bytes[6], ...bytes.subarray(8, 16)]);
}

/** The delivery tag that the Service Bus SDK turns back into `token`. */
export function lockTokenTag(token: string): Buffer {
  return swapGuidBytes(Buffer.from(string_to_uuid(token)));
}

/** A uuid as it arrives in a management request (16 bytes, RFC 4122 order) or as text. */
export function uuidText(value: unknown): string {
  return Buffer.isBuffer(value) ? uuid_to_string(value) : String(value);
}

/** A message body as the SDKs decode it: JSON data parsed when it parses, else the raw value. */
export function sdkBody(message: Message): unknown {
  const body = message.body as { typecode?: number; content?: unknown; multiple?: boolean } | undefined;
  if (body?.typecode !== 0x75) return body?.typecode === undefined ? body : body.content;
  const data = body.multiple ? Buffer.concat(body.content as Buffer[]) : (body.content as Buffer);
  try {
    return JSON.parse(data.toString('utf8'));
  } catch {
    return data;
  }
}
