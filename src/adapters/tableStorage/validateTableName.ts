import { InvalidInputError } from '../../core/errors';

/** Table Storage's rule: a letter, then letters and digits, 3 to 63 characters in all. */
export const TABLE_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9]{2,62}$/;

/** Throws an `InvalidInputError` that names the table and the rule when `name` breaks it. */
export function validateTableName(name: string): string {
  if (typeof name !== 'string' || !TABLE_NAME_PATTERN.test(name)) {
    throw new InvalidInputError(
      `invalid table name ${JSON.stringify(name)}: a table name must start with a letter and hold only ` +
        'letters and digits, 3 to 63 characters in all',
      { parameter: 'table' },
    );
  }
  if (name.toLowerCase() === 'tables') {
    throw new InvalidInputError('invalid table name "tables": the name is reserved by Table Storage', {
      parameter: 'table',
    });
  }
  return name;
}
