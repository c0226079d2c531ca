import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isoInstantMs } from '../../src/core/isoInstant';
import { toParam } from '../../src/adapters/http/params';
import { InvalidInputError } from '../../src/core/errors';

// Epoch seconds worked out independently (calendar.timegm), not by the code under test.
const LEAP_DAY_2024 = 1709164800; // 2024-02-29T00:00:00Z
const FEB_28_2026 = 1772236800; // 2026-02-28T00:00:00Z
const MAR_1_2026 = 1772323200; // 2026-03-01T00:00:00Z

describe('ISO 8601 instants are read strictly: a date that does not exist is refused, not rolled over', () => {
  it('reads dates (UTC midnight), date-times without an offset as UTC, and offsets', () => {
    assert.equal(isoInstantMs('2024-02-29'), LEAP_DAY_2024 * 1000);
    assert.equal(isoInstantMs('2026-02-28'), FEB_28_2026 * 1000);
    assert.equal(isoInstantMs('2026-02-28T23:59:59'), (MAR_1_2026 - 1) * 1000);
    assert.equal(isoInstantMs('2026-02-28T23:59:59.5Z'), (MAR_1_2026 - 1) * 1000 + 500);
    assert.equal(isoInstantMs('2026-02-28 12:05'), 1772280300 * 1000);
    assert.equal(isoInstantMs('2026-02-28T13:05+01:00'), 1772280300 * 1000);
    assert.equal(isoInstantMs('2026-02-28T07:05-0500'), 1772280300 * 1000);
    assert.equal(isoInstantMs('2026-02-28t12:05z'), 1772280300 * 1000);
  });

  it('refuses days, months, hours, minutes, seconds and offsets that do not exist', () => {
    for (const text of [
      '2026-02-29', // 2026 is no leap year
      '2026-02-30', '2026-02-31', '2026-04-31', '2026-06-31', '2026-00-10', '2026-13-01', '2026-01-00', '2026-01-32',
      '2026-02-28T24:00', '2026-02-28T23:60', '2026-02-28T23:59:60', '2026-02-28T12:00+24:00', '2026-02-28T12:00+01:60',
      '1900-02-29', // no leap year either (divisible by 100, not by 400)
    ]) {
      assert.equal(isoInstantMs(text), undefined, text);
    }
  });

  it('refuses what is not ISO 8601', () => {
    for (const text of ['2026-2-28', '28.02.2026', '2026-02-28T12', '2026-02-28Z', '2026-02-28T12:00:00 Z', 'yesterday', '']) {
      assert.equal(isoInstantMs(text), undefined, text);
    }
  });
});

describe('the `to` query parameter', () => {
  const to = (value: string) => toParam(new Map([['to', value]]));
  const refusal = (value: string) => {
    try {
      to(value);
    } catch (error) {
      assert.ok(error instanceof InvalidInputError, value);
      return error;
    }
    assert.fail(`to=${value} was accepted`);
  };

  it('is epoch seconds or ISO 8601, floored to the minute', () => {
    assert.equal(to(String(MAR_1_2026 + 59)), MAR_1_2026);
    assert.equal(to('2026-02-28T23:59:59Z'), MAR_1_2026 - 60);
    assert.equal(to('2026-03-01'), MAR_1_2026);
  });

  it('refuses 2026-02-30 (not 2 March) and names the parameter', () => {
    const error = refusal('2026-02-30');
    assert.equal(error.parameter, 'to');
    assert.match(error.message, /not a valid ISO 8601 date or time: "2026-02-30"/);
  });

  it('refuses epoch milliseconds (a number past the year 9999) and says so', () => {
    assert.match(refusal(String(MAR_1_2026 * 1000)).message, /epoch milliseconds\?/);
  });
});
