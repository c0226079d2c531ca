import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BacklogSamples, dailySnapshots } from '../../projections/backlogDaily';

const s = (iso: string, count: number) => ({ sampledAtMs: Date.parse(iso), count });

describe('BacklogDaily: the daily snapshot reducer', () => {
  it('keeps the last sample of each local date, with how many samples the date had', () => {
    const snapshots = dailySnapshots([
      s('2021-08-03T23:00:02Z', 42), // 19:00 EDT on 08-03
      s('2021-08-03T14:00:00Z', 50), // 10:00 EDT on 08-03, earlier
      s('2021-08-04T03:59:00Z', 41), // 23:59 EDT on 08-03, the last of 08-03
      s('2021-08-04T23:00:00Z', 44), // 08-04
    ], 'America/New_York');

    assert.deepEqual(snapshots, [
      { date: '2021-08-03', count: 41, sampledAtMs: Date.parse('2021-08-04T03:59:00Z'), samples: 3, change: null, gapDays: 0 },
      { date: '2021-08-04', count: 44, sampledAtMs: Date.parse('2021-08-04T23:00:00Z'), samples: 1, change: 3, gapDays: 0 },
    ]);
  });

  it('change is against the previous snapshot and gapDays counts the dates missing in between', () => {
    const snapshots = dailySnapshots([s('2024-02-27T19:00:00Z', 10), s('2024-03-01T19:00:00Z', 7), s('2024-03-02T19:00:00Z', 9)], 'UTC');
    assert.deepEqual(snapshots.map((x) => [x.date, x.change, x.gapDays]), [
      ['2024-02-27', null, 0],
      ['2024-03-01', -3, 2], // 02-28 and 02-29 (a leap year) are missing
      ['2024-03-02', 2, 0],
    ]);
  });

  for (const [zone, samples, expected] of [
    ['America/New_York', [
      s('2024-03-10T00:00:00Z', 5), // 19:00 EST 03-09
      s('2024-03-10T04:59:59Z', 6), // 23:59:59 EST 03-09
      s('2024-03-10T05:00:30Z', 7), // 00:00:30 EST 03-10
      s('2024-03-10T23:00:00Z', 8), // 19:00 EDT 03-10
      s('2024-03-11T03:59:30Z', 9), // 23:59:30 EDT 03-10
      s('2024-11-04T00:00:00Z', 20), // 19:00 EST 11-03
      s('2024-11-04T04:59:59Z', 21), // 23:59:59 EST 11-03
      s('2024-11-04T05:00:00Z', 22), // 00:00 EST 11-04
    ], [['2024-03-09', 6, 2], ['2024-03-10', 9, 3], ['2024-11-03', 21, 2], ['2024-11-04', 22, 1]]],
    ['Europe/London', [
      s('2024-03-31T00:30:00Z', 1), // 00:30 GMT 03-31
      s('2024-03-31T18:00:00Z', 2), // 19:00 BST 03-31
      s('2024-03-31T22:59:00Z', 3), // 23:59 BST 03-31
      s('2024-03-31T23:00:00Z', 4), // 00:00 BST 04-01
      s('2024-10-26T23:30:00Z', 5), // 00:30 BST 10-27
      s('2024-10-27T19:00:00Z', 6), // 19:00 GMT 10-27
      s('2024-10-27T23:59:00Z', 7), // 23:59 GMT 10-27
    ], [['2024-03-31', 3, 3], ['2024-04-01', 4, 1], ['2024-10-27', 7, 3]]],
    ['Australia/Sydney', [
      s('2024-04-06T13:30:00Z', 1), // 00:30 AEDT 04-07
      s('2024-04-07T09:00:00Z', 2), // 19:00 AEST 04-07
      s('2024-04-07T13:59:00Z', 3), // 23:59 AEST 04-07
      s('2024-10-05T14:30:00Z', 4), // 00:30 AEST 10-06
      s('2024-10-06T08:00:00Z', 5), // 19:00 AEDT 10-06
      s('2024-10-06T12:59:00Z', 6), // 23:59 AEDT 10-06
      s('2024-10-06T13:00:00Z', 7), // 00:00 AEDT 10-07
    ], [['2024-04-07', 3, 3], ['2024-10-06', 6, 3], ['2024-10-07', 7, 1]]],
  ] as const) {
    it(`${zone}: samples at 19:00 and near midnight on both change days land on their local dates`, () => {
      const got = dailySnapshots(samples, zone).map((x) => [x.date, x.count, x.samples]);
      assert.deepEqual(got, expected);
    });
  }

  it('a sample whose identity (team + instant) is known changes nothing, whatever its count', () => {
    const state = new BacklogSamples();
    const event = (samples: { team: string; sampledAtMs: number; count: number }[]) => ({ type: 'BacklogSampled' as const, source: 'csv' as const, recordedAtMs: 0, samples });
    assert.equal(state.apply(event([{ team: 'EUC', sampledAtMs: 1, count: 5 }, { team: 'Support', sampledAtMs: 1, count: 6 }])).length, 2);
    const again = state.apply(event([{ team: 'EUC', sampledAtMs: 1, count: 99 }, { team: 'EUC', sampledAtMs: 2, count: 7 }]));
    assert.deepEqual(again.map((x) => x.sampledAtMs), [2]);
    assert.deepEqual([...state.of('EUC')], [{ sampledAtMs: 1, count: 5 }, { sampledAtMs: 2, count: 7 }]);
    assert.deepEqual(state.teams(), ['EUC', 'Support']);
  });
});
