import type { TableEntity } from '@azure/data-tables';
import { InvalidInputError } from '../../core/errors';
import type { FieldValue, Row } from '../../core/ports';
import type { SizedAction } from './packTransactions';
import { assertKeyLength, decodeKeyPart, decodePartition, encodeKeyPart, encodePartition, PARTITION_SEPARATOR } from './keyEncoding';

/** C#-identifier-like, as Table Storage property names must be. */
export const FIELD_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;
/** 252 custom properties per entity, less the one kept for null fields. */
export const MAX_FIELDS = 250;
/** A string property holds at most 32K UTF-16 characters. */
export const MAX_STRING_CHARS = 32 * 1024;
/** Table Storage stores no nulls; their names are kept in this property so that they read back. */
const NULL_FIELDS_PROPERTY = '__nulls';
/** System properties, and the names the SDK maps onto them. */
const RESERVED = new Set(['partitionkey', 'rowkey', 'timestamp', 'etag']);

/** Throws an `InvalidInputError` naming the field unless `name` can be a property name. */
export function validateFieldName(name: string): void {
  if (!FIELD_NAME_PATTERN.test(name) || name.startsWith('__') || RESERVED.has(name.toLowerCase())) {
    throw new InvalidInputError(
      `invalid field name ${JSON.stringify(name)}: use a letter or '_' then letters, digits or '_' ` +
        '(at most 255), not starting with "__" and not PartitionKey, RowKey, Timestamp or etag',
      { parameter: name },
    );
  }
}

function toProperty(name: string, value: FieldValue): unknown {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidInputError(`field ${name} is ${value}; only finite numbers can be stored`);
    return { value, type: 'Double' };
  }
  if (typeof value === 'string' && value.length > MAX_STRING_CHARS) {
    throw new InvalidInputError(`field ${name} holds ${value.length} characters; a property holds at most ${MAX_STRING_CHARS}`);
  }
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  throw new InvalidInputError(`field ${name} has an unsupported type ${typeof value}`);
}

/**
 * The keys of a row: the first `depth` components of its partition are the PartitionKey; the
 * rest, if any, prefix the RowKey (`tenant|vm`), so rows of many small logical partitions share a
 * storage partition and one transaction writes up to 100 of them. `|` is escaped inside parts.
 */
export function rowKeys(partition: readonly string[], row: string, depth = Infinity): { partitionKey: string; rowKey: string; rowPrefix: string } {
  const cut = Math.min(Math.max(1, depth), partition.length);
  const partitionKey = encodePartition(partition.slice(0, cut));
  const rowPrefix = cut < partition.length ? encodePartition(partition.slice(cut)) + PARTITION_SEPARATOR : '';
  return { partitionKey, rowKey: rowPrefix + encodeKeyPart(row), rowPrefix };
}

/** A row as an upsert (replace mode) with an estimate of its size in a request body. */
export function toRowUpsert(row: Row, depth = Infinity): SizedAction {
  const { partitionKey, rowKey } = rowKeys(row.partition, row.row, depth);
  assertKeyLength(partitionKey, `partition ${JSON.stringify(row.partition)}`);
  assertKeyLength(rowKey, `row ${JSON.stringify(row.row)}`);
  const names = Object.keys(row.fields);
  if (names.length > MAX_FIELDS) throw new InvalidInputError(`a row holds at most ${MAX_FIELDS} fields, got ${names.length}`);
  const entity: TableEntity = { partitionKey, rowKey };
  const nulls: string[] = [];
  for (const name of names) {
    validateFieldName(name);
    const value = row.fields[name];
    if (value === null) nulls.push(name);
    else entity[name] = toProperty(name, value);
  }
  if (nulls.length > 0) entity[NULL_FIELDS_PROPERTY] = nulls.join(',');
  return { action: ['upsert', entity, 'Replace'], bytes: Buffer.byteLength(JSON.stringify(entity)) + 300 };
}

function fromProperty(value: unknown): FieldValue | undefined {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object' && value !== null && 'value' in value) return String(value.value);
  return undefined;
}

/** Reads back a row written by `toRowUpsert` (or any entity, as far as its types allow). */
export function fromRowEntity(entity: Record<string, unknown>): Row {
  const fields: Record<string, FieldValue> = {};
  for (const [name, value] of Object.entries(entity)) {
    // System properties and annotations the service adds (odata.metadata, …) are no fields.
    if (name === NULL_FIELDS_PROPERTY || RESERVED.has(name.toLowerCase()) || !FIELD_NAME_PATTERN.test(name)) continue;
    const field = fromProperty(value);
    if (field !== undefined) fields[name] = field;
  }
  const nulls = entity[NULL_FIELDS_PROPERTY];
  if (typeof nulls === 'string' && nulls !== '') for (const name of nulls.split(',')) fields[name] = null;
  // A RowKey of a shallow layout holds the rest of the partition before the row: `tenant|vm`.
  const rowParts = String(entity.rowKey).split(PARTITION_SEPARATOR);
  return {
    partition: [...decodePartition(String(entity.partitionKey)), ...rowParts.slice(0, -1).map(decodeKeyPart)],
    row: decodeKeyPart(rowParts[rowParts.length - 1]),
    fields,
  };
}
