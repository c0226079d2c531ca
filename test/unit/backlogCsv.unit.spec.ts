import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseBacklogCsv } from '../../src/core/backlogCsv';
import { planBacklogImport } from '../../src/core/planBacklogImport';
import { InvalidInputError } from '../../src/core/errors';

const utc = (iso: string) => Date.parse(iso);

describe('reading a backlog history CSV', () => {
  it('finds the two columns by header, in any order, and ignores the others (a pandas index column too)', () => {
    const csv = ',backlog_incident_count,team_note,Timestamp\n0,42,"EUC, evening",2021-08-03 19:00:02\n1,40.0,,2021-08-04 19:00:05\n';

    const { samples, errors } = parseBacklogCsv(csv, 'America/New_York');

    assert.deepEqual(errors, []);
    assert.deepEqual(samples, [
      { line: 2, sampledAtMs: utc('2021-08-03T23:00:02Z'), count: 42 },
      { line: 3, sampledAtMs: utc('2021-08-04T23:00:05Z'), count: 40 },
    ]);
  });

  it('reads offsets and Z as absolute, whatever the zone given', () => {
    const csv = 'timestamp,backlog_incident_count\n2021-08-03T19:00:02-04:00,1\n2021-08-03 23:00:02Z,2\n2021-08-04 09:00:00.123456+10:00,3\n2021-08-04T00:00:00+0530,4\n';

    const { samples, errors } = parseBacklogCsv(csv, 'Australia/Sydney');

    assert.deepEqual(errors, []);
    assert.deepEqual(samples.map((s) => s.sampledAtMs), [
      utc('2021-08-03T23:00:02Z'), utc('2021-08-03T23:00:02Z'), utc('2021-08-03T23:00:00.123Z'), utc('2021-08-03T18:30:00Z'),
    ]);
  });

  it('reads naive times as wall-clock time of the zone given, also near midnight on DST change days', () => {
    const cases: [string, string, string][] = [
      ['America/New_York', '2024-03-09 23:59:59', '2024-03-10T04:59:59Z'],
      ['America/New_York', '2024-03-10 00:00:30', '2024-03-10T05:00:30Z'],
      ['America/New_York', '2024-03-10 19:00:00', '2024-03-10T23:00:00Z'],
      ['America/New_York', '2024-03-10 23:59:30', '2024-03-11T03:59:30Z'],
      ['America/New_York', '2024-11-03 00:30:00', '2024-11-03T04:30:00Z'],
      ['America/New_York', '2024-11-03 19:00:00', '2024-11-04T00:00:00Z'],
      ['America/New_York', '2024-11-03 23:59:59', '2024-11-04T04:59:59Z'],
      ['Europe/London', '2024-03-31 00:30:00', '2024-03-31T00:30:00Z'],
      ['Europe/London', '2024-03-31 19:00:00', '2024-03-31T18:00:00Z'],
      ['Europe/London', '2024-10-27 00:30:00', '2024-10-26T23:30:00Z'],
      ['Europe/London', '2024-10-27 23:30:00', '2024-10-27T23:30:00Z'],
      ['Australia/Sydney', '2024-04-07 00:30:00', '2024-04-06T13:30:00Z'],
      ['Australia/Sydney', '2024-04-07 19:00:00', '2024-04-07T09:00:00Z'],
      ['Australia/Sydney', '2024-10-06 00:30:00', '2024-10-05T14:30:00Z'],
      ['Australia/Sydney', '2024-10-06 23:59:00', '2024-10-06T12:59:00Z'],
    ];
    for (const [zone, local, expected] of cases) {
      const { samples, errors } = parseBacklogCsv(`timestamp,backlog_incident_count\n${local},7\n`, zone);
      assert.deepEqual(errors, [], `${zone} ${local}`);
      assert.equal(new Date(samples[0].sampledAtMs).toISOString(), new Date(expected).toISOString(), `${zone} ${local}`);
    }
  });

  it('takes the earlier instant for a time that occurs twice when the clocks go back', () => {
    const cases: [string, string, string][] = [
      ['America/New_York', '2024-11-03 01:30:00', '2024-11-03T05:30:00Z'], // EDT, not 06:30Z (EST)
      ['Europe/London', '2024-10-27 01:30:00', '2024-10-27T00:30:00Z'], // BST, not 01:30Z (GMT)
      ['Australia/Sydney', '2024-04-07 02:30:00', '2024-04-06T15:30:00Z'], // AEDT, not 16:30Z (AEST)
    ];
    for (const [zone, local, expected] of cases) {
      const { samples } = parseBacklogCsv(`timestamp,backlog_incident_count\n${local},1\n`, zone);
      assert.equal(new Date(samples[0].sampledAtMs).toISOString(), new Date(expected).toISOString(), zone);
    }
  });

  it('refuses a time the clocks skipped when they went forward, naming its line', () => {
    const cases: [string, string][] = [
      ['America/New_York', '2024-03-10 02:30:00'],
      ['Europe/London', '2024-03-31 01:30:00'],
      ['Australia/Sydney', '2024-10-06 02:30:00'],
    ];
    for (const [zone, local] of cases) {
      const { samples, errors } = parseBacklogCsv(`timestamp,backlog_incident_count\n2024-01-01 19:00:00,1\n${local},2\n`, zone);
      assert.equal(samples.length, 1);
      assert.equal(errors.length, 1, zone);
      assert.equal(errors[0].line, 3);
      assert.match(errors[0].message, new RegExp(`does not exist in ${zone}`));
    }
  });

  it('reports every bad line with its number, counting lines inside quoted fields, CRLF and a BOM', () => {
    const csv = '\ufeffidx,timestamp,backlog_incident_count,note\r\n' +
      '0,2021-08-03 19:00:02,42,ok\r\n' +
      '1,2021-08-04 19:00:02,-3,"two\r\nlines"\r\n' + // lines 3-4
      '2,yesterday,5,x\r\n' + // line 5
      '3,2021-02-30 19:00:00,5,x\r\n' + // line 6
      '4,2021-08-05 19:00:02,4.5,x\r\n' + // line 7
      '5,2021-08-06 19:00:02,,x\r\n' + // line 8
      '6,2021-08-07 19:00:02,9\r\n' + // line 9: a field short
      '\r\n' +
      '7,2021-08-08 19:00:02,10,x\r\n';

    const { samples, errors } = parseBacklogCsv(csv, 'UTC');

    assert.deepEqual(samples.map((s) => [s.line, s.count]), [[2, 42], [11, 10]]);
    assert.deepEqual(errors.map((e) => e.line), [3, 5, 6, 7, 8, 9]);
    assert.match(errors[0].message, /whole number.*"-3"/);
    assert.match(errors[1].message, /"yesterday" is not a date and time/);
    assert.match(errors[2].message, /not a real date/);
    assert.match(errors[4].message, /is empty/);
    assert.match(errors[5].message, /3 fields, but the header has 4/);
  });

  it('refuses a header without the required columns, and an unclosed quote, with their lines', () => {
    const noCount = parseBacklogCsv('timestamp,count\n2021-08-03 19:00:02,1\n', 'UTC');
    assert.deepEqual(noCount.errors.map((e) => e.line), [1]);
    assert.match(noCount.errors[0].message, /no count column: "backlog_incident_count" or "inc_count", or name it with --count-column/);
    const empty = parseBacklogCsv('', 'UTC');
    assert.match(empty.errors[0].message, /empty/);
    const open = parseBacklogCsv('timestamp,backlog_incident_count\n2021-08-03 19:00:02,1\n"2021-08-04,2\n', 'UTC');
    assert.deepEqual(open.errors, [{ line: 3, message: 'a quoted field is not closed' }]);
  });

  it('refuses an unknown time zone', () => {
    assert.throws(() => parseBacklogCsv('timestamp,backlog_incident_count\n', 'Mars/Olympus'), InvalidInputError);
  });
});

describe('planning an import so that the same rows twice add nothing', () => {
  const rows = [
    { line: 2, sampledAtMs: 3000, count: 3 },
    { line: 3, sampledAtMs: 1000, count: 1 },
    { line: 4, sampledAtMs: 2000, count: 2 },
  ];

  it('on an empty log, every row is fresh, in time order', () => {
    const plan = planBacklogImport(rows);
    assert.deepEqual(plan.fresh.map((r) => r.line), [3, 4, 2]);
    assert.equal(plan.alreadyInLog, 0);
  });

  it('rows whose sample is already in the log with the same count are skipped', () => {
    const plan = planBacklogImport(rows, new Map([[1000, 1], [2000, 2], [3000, 3]]));
    assert.deepEqual(plan, { fresh: [], alreadyInLog: 3, repeatedInFile: 0, errors: [] });
  });

  it('a row that repeats an earlier row is counted once; one that contradicts it or the log is an error naming both', () => {
    const plan = planBacklogImport([...rows, { line: 5, sampledAtMs: 1000, count: 1 }, { line: 6, sampledAtMs: 2000, count: 9 }, { line: 7, sampledAtMs: 4000, count: 8 }], new Map([[4000, 4]]));
    assert.equal(plan.repeatedInFile, 1);
    assert.deepEqual(plan.errors.map((e) => e.line), [6, 7]);
    assert.match(plan.errors[0].message, /line 4 gives 2 incidents/);
    assert.match(plan.errors[1].message, /already holds 4 incidents/);
  });
});
