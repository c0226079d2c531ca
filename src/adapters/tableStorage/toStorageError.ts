import { OpsfoldError, StorageError } from '../../core/errors';

/** What the SDK's `RestError` (and Node's socket errors) carry that we look at. */
interface SdkErrorShape {
  statusCode?: number;
  code?: string;
  message?: string;
  name?: string;
}

const NETWORK_CODES = new Set([
  'REQUEST_SEND_ERROR', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'ESOCKETTIMEDOUT',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
]);

const shapeOf = (error: unknown): SdkErrorShape =>
  typeof error === 'object' && error !== null ? (error as SdkErrorShape) : { message: String(error) };

/** HTTP status of an SDK error, if it came from a response. */
export function statusOf(error: unknown): number | undefined {
  const { statusCode } = shapeOf(error);
  return typeof statusCode === 'number' ? statusCode : undefined;
}

/** True for "the entity / table is not there" (404), also when already wrapped. */
export function isNotFound(error: unknown): boolean {
  const cause = error instanceof StorageError ? error.cause : error;
  return statusOf(cause) === 404;
}

/**
 * 5xx, timeouts (408), throttling (429) and network failures are worth a retry; other 4xx are not:
 * the same request would fail the same way.
 */
export function isRetriableSdkError(error: unknown): boolean {
  const { statusCode, code, name } = shapeOf(error);
  if (name === 'AbortError') return false;
  if (typeof statusCode === 'number') return statusCode >= 500 || statusCode === 408 || statusCode === 429;
  if (code !== undefined && NETWORK_CODES.has(code)) return true;
  return name === 'RestError'; // a RestError without a status never got a response
}

/**
 * Maps an SDK error to a `StorageError` naming the operation, keeping the original as `cause`.
 * Errors of our own tree pass through unchanged.
 */
export function toStorageError(error: unknown, operation: string): OpsfoldError {
  if (error instanceof OpsfoldError) return error;
  const { statusCode, code, message } = shapeOf(error);
  const status = [statusCode, code].filter((part) => part !== undefined).join(' ');
  const firstLine = (message ?? '').split('\n')[0].trim();
  return new StorageError(`Table Storage: ${operation} failed${status ? ` (${status})` : ''}: ${firstLine}`, {
    retriable: isRetriableSdkError(error),
    status: typeof statusCode === 'number' ? statusCode : undefined,
    cause: error,
  });
}
