import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseBacklogCsv } from '../../src/core/backlogCsv';
import { planBacklogImport } from '../../src/core/planBacklogImport';

// The original job (Python, pandas) wrote one file per series: `inc_count,time`, no index column,
// `time` being str(datetime.now()) on its VM, microseconds only when not zero, and a first row of
// 0 written when it created the file. America/Chicago: CST is UTC-6, CDT UTC-5; in 2021 the clocks
// went forward on 03-14 at 02:00 and back on 11-07 at 02:00. Every instant below is worked out by hand.
const CHICAGO = 'America/Chicago';
const iso = (ms: number) => new Date(ms).toISOString();

describe('the seed job\'s own history files', () => {
  it('across the spring-forward day: naive Chicago times with and without microseconds; the creation row is left out and named', () => {
    const csv = [
      'inc_count,time',
      '0,2021-03-12 18:42:17.503112', // line 2: written when the file was created
      '37,2021-03-12 19:00:02.345678', // CST: +6 h, microseconds cut to milliseconds
      '41,2021-03-13 19:00:00', // Saturday, CST, no fraction (Python prints none when it is zero)
      '42,2021-03-13 23:59:59.999999', // still 03-13 in Chicago, 03-14 in UTC
      '39,2021-03-14 19:00:01.000500', // the 23-hour day, CDT: +5 h
      '40,2021-03-15 19:00:03.999999',
      '',
    ].join('\n');

    const parsed = parseBacklogCsv(csv, CHICAGO);

    assert.deepEqual(parsed.errors, []);
    assert.deepEqual(parsed.columns, { time: 'time', count: 'inc_count' });
    assert.deepEqual(parsed.creationRow, { line: 2, sampledAtMs: Date.parse('2021-03-13T00:42:17.503Z'), count: 0 });
    assert.deepEqual(parsed.samples.map((s) => [s.line, iso(s.sampledAtMs), s.count]), [
      [3, '2021-03-13T01:00:02.345Z', 37],
      [4, '2021-03-14T01:00:00.000Z', 41],
      [5, '2021-03-14T05:59:59.999Z', 42],
      [6, '2021-03-15T00:00:01.000Z', 39],
      [7, '2021-03-16T00:00:03.999Z', 40],
    ]);
  });

  it('across the fall-back day: a time the night shows twice is its first (CDT) instant', () => {
    const csv = 'inc_count,time\n0,2021-11-01 09:15:00.250000\n44,2021-11-06 19:00:00.120000\n45,2021-11-07 01:30:00\n46,2021-11-07 19:00:02.500000\n47,2021-11-08 19:00:00\n';

    const parsed = parseBacklogCsv(csv, CHICAGO);

    assert.deepEqual(parsed.errors, []);
    assert.equal(iso(parsed.creationRow!.sampledAtMs), '2021-11-01T14:15:00.250Z');
    assert.deepEqual(parsed.samples.map((s) => [iso(s.sampledAtMs), s.count]), [
      ['2021-11-07T00:00:00.120Z', 44], // CDT
      ['2021-11-07T06:30:00.000Z', 45], // 01:30 CDT, not 07:30Z (01:30 CST)
      ['2021-11-08T01:00:02.500Z', 46], // the 25-hour day is over: CST
      ['2021-11-09T01:00:00.000Z', 47],
    ]);
  });

  it('with keepCreationRow the creation row is a sample of 0 like the others', () => {
    const parsed = parseBacklogCsv('inc_count,time\n0,2021-08-02 16:05:41.118204\n12,2021-08-02 19:00:00\n', CHICAGO, { keepCreationRow: true });

    assert.deepEqual(parsed.samples.map((s) => [s.line, iso(s.sampledAtMs), s.count]), [[2, '2021-08-02T21:05:41.118Z', 0], [3, '2021-08-03T00:00:00.000Z', 12]]);
    assert.equal(parsed.creationRow?.line, 2);
  });

  it('only a first row of 0 is the creation row: a later 0 is a real count, and a first row that is not 0 is a sample', () => {
    const zeroLater = parseBacklogCsv('inc_count,time\n0,2021-08-02 16:05:41.118204\n3,2021-08-02 19:00:00\n0,2021-08-03 19:00:00\n', CHICAGO);
    assert.deepEqual(zeroLater.samples.map((s) => [s.line, s.count]), [[3, 3], [4, 0]]);

    const trimmed = parseBacklogCsv('inc_count,time\n5,2021-08-02 19:00:00\n0,2021-08-03 19:00:00\n', CHICAGO);
    assert.equal(trimmed.creationRow, undefined);
    assert.deepEqual(trimmed.samples.map((s) => [s.line, s.count]), [[2, 5], [3, 0]]);
  });

  it('the timestamp/backlog_incident_count files still import, and have no creation row: a first 0 there is a sample', () => {
    const parsed = parseBacklogCsv(',timestamp,backlog_incident_count\n0,2021-08-03 19:00:02,0\n1,2021-08-04 19:00:02.5,8.0\n', CHICAGO);

    assert.deepEqual(parsed.errors, []);
    assert.deepEqual(parsed.columns, { time: 'timestamp', count: 'backlog_incident_count' });
    assert.equal(parsed.creationRow, undefined);
    assert.deepEqual(parsed.samples.map((s) => [s.line, iso(s.sampledAtMs), s.count]), [[2, '2021-08-04T00:00:02.000Z', 0], [3, '2021-08-05T00:00:02.500Z', 8]]);
  });

  it('reads other files through timeColumn and countColumn (names without case), and says which flag to use when it cannot tell', () => {
    const csv = 'Team,Polled At,Open\nEUC,2021-03-14 19:00:00,7\nEUC,2021-03-15T00:00:00Z,9\n';

    const refused = parseBacklogCsv(csv, CHICAGO);
    assert.deepEqual(refused.errors.map((e) => e.line), [1, 1]);
    assert.equal(refused.errors[0].message, 'the header has no time column: "timestamp" or "time", or name it with --time-column (it has: Team, Polled At, Open)');
    assert.equal(refused.errors[1].message, 'the header has no count column: "backlog_incident_count" or "inc_count", or name it with --count-column (it has: Team, Polled At, Open)');

    const read = parseBacklogCsv(csv, CHICAGO, { timeColumn: 'polled at', countColumn: 'OPEN' });
    assert.deepEqual(read.errors, []);
    assert.deepEqual(read.columns, { time: 'Polled At', count: 'Open' });
    assert.deepEqual(read.samples.map((s) => [iso(s.sampledAtMs), s.count]), [['2021-03-15T00:00:00.000Z', 7], ['2021-03-15T00:00:00.000Z', 9]]);

    const missing = parseBacklogCsv(csv, CHICAGO, { timeColumn: 'when', countColumn: 'Open' });
    assert.deepEqual(missing.errors, [{ line: 1, message: 'the header has no "when" column (--time-column) (it has: Team, Polled At, Open)' }]);
    const same = parseBacklogCsv(csv, CHICAGO, { timeColumn: 'Open', countColumn: 'open' });
    assert.deepEqual(same.errors, [{ line: 1, message: 'the time and the count cannot both be the column "Open"' }]);
  });

  it('a header with both time columns, or both count columns, asks which one', () => {
    const both = parseBacklogCsv('time,timestamp,inc_count\n2021-03-14 19:00:00,2021-03-14 19:00:00,1\n', CHICAGO);
    assert.deepEqual(both.errors, [{ line: 1, message: 'the header has both "timestamp" and "time": say which one is the time with --time-column' }]);

    const chosen = parseBacklogCsv('time,timestamp,inc_count\n2021-03-14 19:00:00,2021-03-15T00:00:00Z,1\n', CHICAGO, { timeColumn: 'timestamp' });
    assert.deepEqual(chosen.samples.map((s) => iso(s.sampledAtMs)), ['2021-03-15T00:00:00.000Z']);

    const counts = parseBacklogCsv('time,backlog_incident_count,inc_count\n2021-03-14 19:00:00,1,1\n', CHICAGO);
    assert.deepEqual(counts.errors, [{ line: 1, message: 'the header has both "backlog_incident_count" and "inc_count": say which one is the count with --count-column' }]);
  });

  it('names every wrong line of a seed file, with the seed\'s column names, and still refuses a time the clocks skipped', () => {
    const csv = [
      'inc_count,time',
      '0,2021-03-10 11:00:00.000001', // 2: creation row
      '37,2021-03-12 19:00:02.345678',
      '-1,2021-03-13 19:00:00', // 4
      '38,2021-03-14 02:30:00.123456', // 5: 02:00-03:00 did not happen in Chicago that night
      '39,2021-03-14 19:00:00,extra', // 6
      '40,14/03/2021 19:00', // 7
      '41,2021-03-16 19:00:00',
    ].join('\r\n');

    const parsed = parseBacklogCsv(csv, CHICAGO);

    assert.deepEqual(parsed.errors, [
      { line: 4, message: 'inc_count must be a whole number of incidents (0 or more), got "-1"' },
      { line: 5, message: 'time "2021-03-14 02:30:00.123456" does not exist in America/Chicago: the clocks skipped that time when daylight saving time began' },
      { line: 6, message: '3 fields, but the header has 2' },
      { line: 7, message: 'time "14/03/2021 19:00" is not a date and time such as 2021-08-03 19:00:02 or 2021-08-03T23:00:02Z' },
    ]);
  });

  it('importing the same seed rows again adds nothing; a row that changes a recorded count is an error naming its line', () => {
    const first = parseBacklogCsv('inc_count,time\n0,2021-03-12 18:42:17.503112\n37,2021-03-12 19:00:02.345678\n41,2021-03-13 19:00:00\n', CHICAGO);
    const inLog = new Map(planBacklogImport(first.samples).fresh.map((s) => [s.sampledAtMs, s.count]));
    assert.deepEqual([...inLog], [[Date.parse('2021-03-13T01:00:02.345Z'), 37], [Date.parse('2021-03-14T01:00:00Z'), 41]]);

    const grown = parseBacklogCsv('inc_count,time\n0,2021-03-12 18:42:17.503112\n37,2021-03-12 19:00:02.345678\n41,2021-03-13 19:00:00\n39,2021-03-14 19:00:01.000500\n', CHICAGO);
    const again = planBacklogImport(grown.samples, inLog);
    assert.equal(again.alreadyInLog, 2);
    assert.deepEqual(again.fresh.map((s) => [s.line, iso(s.sampledAtMs)]), [[5, '2021-03-15T00:00:01.000Z']]);

    const changed = planBacklogImport(parseBacklogCsv('inc_count,time\n0,2021-03-12 18:42:17.503112\n36,2021-03-12 19:00:02.345678\n', CHICAGO).samples, inLog);
    assert.deepEqual(changed.errors, [{ line: 3, message: 'the log already holds 37 incidents at 2021-03-13T01:00:02.345Z; this line says 36' }]);
  });
});
