import { RecordNotAppliedError } from '../src/core/errors';
import { isRecordFault, reasonOf } from '../src/core/recordFault';
import type { LogRecord } from '../src/core/ports';
import { rawOfPayload } from '../src/core/quarantine';
import type { QuarantineLedger } from './QuarantineLedger';

/**
 * What a projector throws when applying `record` failed with `error`: when the record is at fault
 * (see isRecordFault) and quarantining is allowed, the record goes to the ledger, durably, and a
 * RecordNotAppliedError tells the supervisor to restart past it (the projector's state holds part
 * of the record, so it cannot simply go on). Otherwise the error itself, for the supervisor.
 *
 * @example
 * try { await flush(); } catch (error) { throw await setAside(error, record, { projection: 'rejects', ledger, allowed: careful.quarantine }); }
 */
export async function setAside(
  error: unknown, record: LogRecord,
  o: { projection: string; ledger: QuarantineLedger; allowed: boolean; decoded?: unknown },
): Promise<unknown> {
  if (!o.allowed || !isRecordFault(error)) return error;
  const reason = reasonOf(error);
  o.ledger.take({ projection: o.projection, position: record.position, reason, raw: rawOfPayload(record.payload, o.decoded) });
  await o.ledger.write();
  return new RecordNotAppliedError(record.position, `the ${o.projection} projection cannot apply the record at position ${record.position}: ${reason}`, { cause: error });
}
