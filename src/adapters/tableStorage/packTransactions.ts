import type { TransactionAction } from '@azure/data-tables';

/** Table Storage: at most 100 operations in one entity group transaction. */
export const MAX_TRANSACTION_ACTIONS = 100;
/** Table Storage (and Azurite) refuse batch bodies above 4 MiB; leave room for the multipart framing. */
export const MAX_TRANSACTION_BYTES = 3.5 * 1024 * 1024;

/** One action and an estimate of its size in the request body (UTF-8 bytes). */
export interface SizedAction {
  action: TransactionAction;
  bytes: number;
}

/**
 * Packs units of actions, all of one partition, into transactions of at most `maxActions`
 * actions and `maxBytes` bytes, in order. A unit (e.g. the pages of one block) is kept inside
 * one transaction, and so applied atomically, whenever it fits into one; a larger unit is
 * spread over transactions of its own, in its order.
 *
 * @example
 * for (const actions of packTransactions(units)) await client.submitTransaction(actions);
 */
export function packTransactions(
  units: readonly (readonly SizedAction[])[],
  { maxActions = MAX_TRANSACTION_ACTIONS, maxBytes = MAX_TRANSACTION_BYTES } = {},
): TransactionAction[][] {
  const transactions: TransactionAction[][] = [];
  let current: TransactionAction[] = [];
  let currentBytes = 0;
  const flush = (): void => {
    if (current.length > 0) transactions.push(current);
    current = [];
    currentBytes = 0;
  };
  const add = (sized: SizedAction): void => {
    if (current.length + 1 > maxActions || (current.length > 0 && currentBytes + sized.bytes > maxBytes)) flush();
    current.push(sized.action);
    currentBytes += sized.bytes;
  };
  for (const unit of units) {
    const unitBytes = unit.reduce((sum, sized) => sum + sized.bytes, 0);
    const fitsAlone = unit.length <= maxActions && unitBytes <= maxBytes;
    if (fitsAlone && (current.length + unit.length > maxActions || currentBytes + unitBytes > maxBytes)) flush();
    if (!fitsAlone) flush();
    unit.forEach(add);
    if (!fitsAlone) flush();
  }
  flush();
  return transactions;
}
