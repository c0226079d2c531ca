import { InvalidInputError } from '../../core/errors';
import type { GateLimits } from '../../core/metricRejection';
import { MAX_SPOC_MESSAGE_BYTES, parseSpocMessage, type ValidatedMessage } from '../../core/validateSpoc';

/**
 * Reads a SPOC message from a Service Bus body received with `skipParsingBodyAsJson`, so that
 * the bytes a producer sent are what is measured and parsed:
 * - a Buffer (a binary body, what the SDKs send for a Buffer, a string or an object) is UTF-8 JSON;
 * - a string (an AMQP string value, as some AMQP clients send) is JSON text;
 * - an object or array (an AMQP map or list value) is JSON already parsed, measured re-serialized.
 * A JSON string that holds a JSON object's text (what the JS SDK sends for
 * `body: JSON.stringify(message)`) is unwrapped once.
 * The metrics are judged against `limits` (their arrival: when the message was received).
 * Throws InvalidInputError coded `message_too_large`, `invalid_json` or `invalid_message`.
 */
export function spocMessageFromBody(body: unknown, limits: GateLimits): ValidatedMessage {
  const bytes = bytesOf(body);
  if (bytes.length > MAX_SPOC_MESSAGE_BYTES) {
    throw new InvalidInputError(`the message has ${bytes.length} bytes, above the ${MAX_SPOC_MESSAGE_BYTES} a SPOC message may have`, { code: 'message_too_large', parameter: 'body' });
  }
  const text = bytes.toString('utf8');
  return parseSpocMessage(jsonStringContent(text) ?? text, limits);
}

/** The object text a JSON string literal holds; undefined when `text` is anything else. */
function jsonStringContent(text: string): string | undefined {
  if (!text.trimStart().startsWith('"')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'string' && value.trimStart().startsWith('{') ? value : undefined;
  } catch {
    return undefined;
  }
}

function bytesOf(body: unknown): Buffer {
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (typeof body === 'object' && body !== null) return Buffer.from(serialized(body), 'utf8');
  throw new InvalidInputError(`a SPOC message must be a JSON object with a "metrics" array, got ${body === undefined || body === null ? 'no body' : `a ${typeof body} value`}`, {
    code: 'invalid_message',
    parameter: 'body',
  });
}

/** An AMQP map or list body as JSON text; one nested too deeply for JSON.stringify is not a SPOC message. */
function serialized(body: object): string {
  try {
    return JSON.stringify(body);
  } catch (error) {
    throw new InvalidInputError(`a SPOC message must be a JSON object with a "metrics" array; this body cannot be read as JSON: ${(error as Error).message}`, {
      code: 'invalid_message', parameter: 'body', cause: error,
    });
  }
}
