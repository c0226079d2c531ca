/**
 * One error tree for the whole project. `code` is machine-readable and stable;
 * `retriable` tells a retry loop whether trying again can help. Adapters wrap
 * the SDK's own error as `cause`; only the HTTP adapter turns these into responses.
 */
export class OpsfoldError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** A user-supplied value (setting, parameter, file) is wrong; the message names it. */
export class InvalidInputError extends OpsfoldError {
  readonly parameter?: string;
  constructor(message: string, options: { parameter?: string; code?: string; cause?: unknown } = {}) {
    super(options.code ?? 'invalid_parameter', message, { cause: options.cause });
    this.parameter = options.parameter;
  }
}

/** A capacity limit is reached (e.g. the window stream's clients): try again after `retryAfterSeconds`. */
export class CapacityError extends OpsfoldError {
  constructor(code: string, message: string, readonly retryAfterSeconds: number) {
    super(code, message, { retriable: true });
  }
}

/** A required setting is missing or contradicts another one. */
export class ConfigError extends OpsfoldError {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super('invalid_setting', message);
    this.setting = setting;
  }
}

/** Durable storage (log, tables) failed; usually worth a retry. */
export class StorageError extends OpsfoldError {
  /** The HTTP status the storage answered with, when it answered. */
  readonly status?: number;
  constructor(message: string, options: { retriable?: boolean; status?: number; cause?: unknown } = {}) {
    super('storage_error', message, { retriable: options.retriable ?? true, cause: options.cause });
    this.status = options.status;
  }
}

/** The log holds bytes that are not a valid record (checksum, length, codec). */
export class CorruptLogError extends OpsfoldError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('corrupt_log', message, { retriable: false, cause: options.cause });
  }
}

/**
 * The log itself is damaged where a read must pass (a checksum that fails mid-segment, a position
 * no segment holds): no record's fault and no outage, so neither quarantine nor retries mend it;
 * an operator does (`opsfold log check`, `opsfold log salvage`).
 */
export class DamagedLogError extends CorruptLogError {}

/** An outside service (ServiceNow, Key Vault) failed or answered something unusable. */
export class UpstreamError extends OpsfoldError {
  readonly status?: number;
  constructor(message: string, options: { retriable?: boolean; status?: number; cause?: unknown; code?: string } = {}) {
    super(options.code ?? 'upstream_error', message, { retriable: options.retriable ?? false, cause: options.cause });
    this.status = options.status;
  }
}

/** An outside service refused our credentials (401) or our rights (403): trying again cannot help. */
export class UpstreamAuthError extends UpstreamError {
  constructor(message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, { ...options, retriable: false, code: 'upstream_unauthorized' });
  }
}

/**
 * A projection could not apply the log record at `position` (its fold or its write failed in a
 * way the same record would fail again). The record is in the quarantine ledger already when
 * this is thrown; the projector's supervisor restarts it from its checkpoint, past the record.
 */
export class RecordNotAppliedError extends OpsfoldError {
  readonly position: number;
  constructor(position: number, message: string, options: { cause?: unknown } = {}) {
    super('record_not_applied', message, { retriable: false, cause: options.cause });
    this.position = position;
  }
}
