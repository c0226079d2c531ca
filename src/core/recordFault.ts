import { CorruptLogError, DamagedLogError, InvalidInputError, OpsfoldError, RecordNotAppliedError, StorageError } from './errors';

/** What JavaScript throws when our own code meets data it cannot handle (a bad index, a malformed string, an odd value). */
const DATA_FAULTS = [TypeError, RangeError, SyntaxError, URIError];

const isDataFault = (error: unknown): boolean => DATA_FAULTS.some((kind) => error instanceof kind);

/**
 * Whether an error met while applying one log record is that record's fault: applying the same
 * record would fail the same way however often it is tried, so it belongs in the quarantine
 * ledger. Everything else (an outage, refused credentials, a missing table, a closed log) is the
 * world's fault: the projector waits and tries again instead of setting records aside. A damaged
 * log (DamagedLogError, met by the read, not by a record's decode) is neither: see ProjectorRestarts.
 *
 * Record faults: a value the store refuses (InvalidInputError: a key too long once encoded, a
 * row out of range), bytes that are no record (CorruptLogError), a request the store answered
 * 400 or 413 or that could not even be built from the data (an id with a lone surrogate makes
 * `URI malformed`), and what JavaScript throws on odd data (TypeError, RangeError…).
 */
export function isRecordFault(error: unknown): boolean {
  if (!(error instanceof OpsfoldError)) return isDataFault(error);
  if (error.retriable || error instanceof DamagedLogError) return false;
  if (error instanceof InvalidInputError || error instanceof CorruptLogError || error instanceof RecordNotAppliedError) return true;
  if (error instanceof StorageError) return error.status === 400 || error.status === 413 || (error.status === undefined && isDataFault(error.cause));
  return false;
}

/** The one line of an error kept in the ledger and in /healthz. */
export function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].trim() || (error instanceof Error ? error.name : 'unknown error');
}
