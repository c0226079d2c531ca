import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nextPollAfter, parsePollAt, pollInstantOn } from '../../src/core/pollSchedule';
import { InvalidInputError } from '../../src/core/errors';
import { addDays, daysBetween, localDate, localIso, timeZone } from '../../src/core/zonedTime';

const at19 = { hour: 19, minute: 0 };
const iso = (ms: number) => new Date(ms).toISOString();
const HOUR = 3_600_000;

/** 19:00 local on the days around each change, as UTC, worked out by hand from the zones' offsets. */
const AROUND_CHANGES: Record<string, [string, string][]> = {
  'America/New_York': [
    ['2024-03-09', '2024-03-10T00:00:00.000Z'], // EST −5
    ['2024-03-10', '2024-03-10T23:00:00.000Z'], // EDT −4: a 23-hour day
    ['2024-03-11', '2024-03-11T23:00:00.000Z'],
    ['2024-11-02', '2024-11-02T23:00:00.000Z'], // EDT
    ['2024-11-03', '2024-11-04T00:00:00.000Z'], // EST: a 25-hour day
    ['2024-11-04', '2024-11-05T00:00:00.000Z'],
  ],
  'Europe/London': [
    ['2024-03-30', '2024-03-30T19:00:00.000Z'], // GMT
    ['2024-03-31', '2024-03-31T18:00:00.000Z'], // BST +1
    ['2024-04-01', '2024-04-01T18:00:00.000Z'],
    ['2024-10-26', '2024-10-26T18:00:00.000Z'],
    ['2024-10-27', '2024-10-27T19:00:00.000Z'], // back to GMT
    ['2024-10-28', '2024-10-28T19:00:00.000Z'],
  ],
  'Australia/Sydney': [
    ['2024-04-06', '2024-04-06T08:00:00.000Z'], // AEDT +11
    ['2024-04-07', '2024-04-07T09:00:00.000Z'], // AEST +10: a 25-hour day
    ['2024-04-08', '2024-04-08T09:00:00.000Z'],
    ['2024-10-05', '2024-10-05T09:00:00.000Z'], // AEST
    ['2024-10-06', '2024-10-06T08:00:00.000Z'], // AEDT: a 23-hour day
    ['2024-10-07', '2024-10-07T08:00:00.000Z'],
  ],
};

describe('the daily poll time in a time zone', () => {
  for (const [zone, days] of Object.entries(AROUND_CHANGES)) {
    it(`${zone}: 19:00 local on each day around both DST changes`, () => {
      for (const [date, expected] of days) assert.equal(iso(pollInstantOn(date, at19, zone)), expected, date);
    });

    it(`${zone}: stepping with nextPollAfter visits every local date once, 23 or 25 hours apart on change days`, () => {
      for (const start of [0, 3]) {
        const [firstDate, firstExpected] = days[start];
        let t = Date.parse(firstExpected) - HOUR; // an hour before the first poll
        const seen: string[] = [];
        for (let i = 0; i < 3; i++) {
          t = nextPollAfter(t, at19, zone);
          seen.push(iso(t));
        }
        assert.deepEqual(seen, days.slice(start, start + 3).map(([, e]) => e), firstDate);
        const gaps = [1, 2].map((i) => (Date.parse(days[start + i][1]) - Date.parse(days[start + i - 1][1])) / HOUR);
        assert.ok(gaps.includes(23) || gaps.includes(25), `${zone} from ${firstDate}: ${gaps}`);
      }
    });
  }

  it('the poll at exactly its time is not "after" it: the next one is the next day', () => {
    const t = Date.parse('2024-03-10T23:00:00Z');
    assert.equal(iso(nextPollAfter(t - 1, at19, 'America/New_York')), '2024-03-10T23:00:00.000Z');
    assert.equal(iso(nextPollAfter(t, at19, 'America/New_York')), '2024-03-11T23:00:00.000Z');
  });

  it('just after local midnight the poll is that evening, though the UTC date is still the previous one', () => {
    // 00:30 AEDT on 2024-04-07 is 13:30Z on 2024-04-06
    assert.equal(iso(nextPollAfter(Date.parse('2024-04-06T13:30:00Z'), at19, 'Australia/Sydney')), '2024-04-07T09:00:00.000Z');
  });

  it('a poll time that the clocks skip moves forward by the gap; one that occurs twice takes the earlier', () => {
    assert.equal(iso(pollInstantOn('2024-03-10', { hour: 2, minute: 30 }, 'America/New_York')), '2024-03-10T07:30:00.000Z'); // 03:30 EDT
    assert.equal(iso(pollInstantOn('2024-11-03', { hour: 1, minute: 30 }, 'America/New_York')), '2024-11-03T05:30:00.000Z'); // 01:30 EDT
    assert.equal(iso(pollInstantOn('2024-10-06', { hour: 2, minute: 15 }, 'Australia/Sydney')), '2024-10-05T16:15:00.000Z'); // 03:15 AEDT
  });

  it('HH:mm is validated with the setting named', () => {
    assert.deepEqual(parsePollAt('07:05'), { hour: 7, minute: 5 });
    assert.deepEqual(parsePollAt('7:05'), { hour: 7, minute: 5 });
    for (const bad of ['24:00', '19:60', '19', '7pm', '19:00:00', '']) {
      assert.throws(() => parsePollAt(bad), (e: unknown) => e instanceof InvalidInputError && /BACKLOG_POLL_AT/.test(e.message), bad);
    }
  });
});

describe('local dates', () => {
  it('the local date of instants around midnight on change days', () => {
    const cases: [string, string, string][] = [
      ['America/New_York', '2024-03-10T04:59:59Z', '2024-03-09'],
      ['America/New_York', '2024-03-10T05:00:00Z', '2024-03-10'],
      ['America/New_York', '2024-11-04T04:59:59Z', '2024-11-03'],
      ['Europe/London', '2024-10-26T23:30:00Z', '2024-10-27'],
      ['Australia/Sydney', '2024-04-06T13:30:00Z', '2024-04-07'],
      ['Australia/Sydney', '2024-10-06T12:59:00Z', '2024-10-06'],
      ['Australia/Sydney', '2024-10-06T13:00:00Z', '2024-10-07'],
    ];
    for (const [zone, instant, expected] of cases) assert.equal(localDate(Date.parse(instant), timeZone(zone)), expected, `${zone} ${instant}`);
  });

  it('calendar arithmetic ignores the length of days', () => {
    assert.equal(addDays('2024-02-28', 1), '2024-02-29');
    assert.equal(addDays('2024-03-01', -1), '2024-02-29');
    assert.equal(daysBetween('2024-03-09', '2024-03-12'), 3);
    assert.equal(daysBetween('2024-10-27', '2024-10-27'), 0);
  });

  it('local ISO times carry the offset of their instant', () => {
    assert.equal(localIso(Date.parse('2024-11-03T05:30:00Z'), timeZone('America/New_York')), '2024-11-03T01:30:00-04:00');
    assert.equal(localIso(Date.parse('2024-11-03T06:30:00.250Z'), timeZone('America/New_York')), '2024-11-03T01:30:00.250-05:00');
  });
});
