import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BacklogScheduler, type PollReason, type ScheduledTeam } from '../../streams/BacklogScheduler';
import { UpstreamAuthError } from '../../src/core/errors';
import { TestClock } from '../support/testClock';

interface Poll {
  at: string;
  teams: string[];
  reason: PollReason;
}

type Answer = (teams: string[], reason: PollReason) => Promise<{ failed: { team: string; retriable: boolean }[] }>;

/** `sampled`: the teams with a sample on any date, or on the date given. */
function harness(options: {
  zone: string; startIso: string; teams?: (string | ScheduledTeam)[]; sampled?: string[] | ((date: string) => string[]); answer?: Answer; pollAt?: { hour: number; minute: number };
}) {
  const clock = new TestClock(Date.parse(options.startIso));
  const polls: Poll[] = [];
  const asked: string[] = [];
  const scheduler = new BacklogScheduler({
    teams: options.teams ?? ['EUC', 'Support'],
    pollAt: options.pollAt ?? { hour: 19, minute: 0 },
    timezone: options.zone,
    clock,
    async poll(teams, reason) {
      polls.push({ at: new Date(clock.now()).toISOString(), teams, reason });
      return options.answer ? options.answer(teams, reason) : { failed: [] };
    },
    async sampledTeamsOn(date) {
      asked.push(date);
      return new Set(typeof options.sampled === 'function' ? options.sampled(date) : options.sampled ?? []);
    },
  });
  const running = scheduler.run();
  return {
    clock, polls, asked, scheduler,
    until: (iso: string) => clock.runUntil(Date.parse(iso)),
    async stop() {
      await scheduler.stop();
      await running;
    },
  };
}

/** A poll as one line: when, why, which teams. */
const pollLine = (p: Poll) => `${p.at} ${p.reason} ${p.teams.join(',')}`;

describe('the backlog scheduler, on a test clock', () => {
  const cases: { zone: string; start: string; end: string; expected: string[] }[] = [
    // Saturday noon before the 23-hour day, then three evenings.
    { zone: 'America/New_York', start: '2024-03-09T17:00:00Z', end: '2024-03-12T12:00:00Z', expected: ['2024-03-10T00:00:00.000Z', '2024-03-10T23:00:00.000Z', '2024-03-11T23:00:00.000Z'] },
    { zone: 'America/New_York', start: '2024-11-02T16:00:00Z', end: '2024-11-05T12:00:00Z', expected: ['2024-11-02T23:00:00.000Z', '2024-11-04T00:00:00.000Z', '2024-11-05T00:00:00.000Z'] },
    { zone: 'Europe/London', start: '2024-03-30T12:00:00Z', end: '2024-04-02T12:00:00Z', expected: ['2024-03-30T19:00:00.000Z', '2024-03-31T18:00:00.000Z', '2024-04-01T18:00:00.000Z'] },
    { zone: 'Europe/London', start: '2024-10-26T11:00:00Z', end: '2024-10-29T12:00:00Z', expected: ['2024-10-26T18:00:00.000Z', '2024-10-27T19:00:00.000Z', '2024-10-28T19:00:00.000Z'] },
    { zone: 'Australia/Sydney', start: '2024-04-06T01:00:00Z', end: '2024-04-09T01:00:00Z', expected: ['2024-04-06T08:00:00.000Z', '2024-04-07T09:00:00.000Z', '2024-04-08T09:00:00.000Z'] },
    { zone: 'Australia/Sydney', start: '2024-10-05T02:00:00Z', end: '2024-10-08T02:00:00Z', expected: ['2024-10-05T09:00:00.000Z', '2024-10-06T08:00:00.000Z', '2024-10-07T08:00:00.000Z'] },
  ];
  for (const { zone, start, end, expected } of cases) {
    it(`${zone} from ${start.slice(0, 10)}: exactly one poll per local day at 19:00 local, across the DST change`, async () => {
      const h = harness({ zone, startIso: start });
      await h.until(end);
      await h.stop();

      assert.deepEqual(h.polls.map((p) => p.at), expected);
      assert.ok(h.polls.every((p) => p.reason === 'scheduled' && p.teams.join() === 'EUC,Support'));
      assert.deepEqual(h.asked, [], 'started before the poll time: no catch-up question');
    });
  }

  it('shows the next poll time, and forgets it when stopped', async () => {
    const h = harness({ zone: 'America/New_York', startIso: '2024-11-03T12:00:00Z' });
    await h.until('2024-11-03T13:00:00Z');
    assert.equal(new Date(h.scheduler.nextPollAt!).toISOString(), '2024-11-04T00:00:00.000Z');
    await h.until('2024-11-04T00:00:01Z');
    assert.equal(new Date(h.scheduler.nextPollAt!).toISOString(), '2024-11-05T00:00:00.000Z');
    await h.stop();
    assert.equal(h.scheduler.nextPollAt, undefined);
    assert.equal(h.clock.pendingTimers, 0);
  });

  describe('catch-up after downtime', () => {
    it('started after today\'s poll time with no sample today: one poll at once, then the next evening', async () => {
      const h = harness({ zone: 'Europe/London', startIso: '2024-10-27T21:30:00Z' });
      await h.until('2024-10-28T20:00:00Z');
      await h.stop();

      assert.deepEqual(h.asked, ['2024-10-27']);
      assert.deepEqual(h.polls, [
        { at: '2024-10-27T21:30:00.000Z', teams: ['EUC', 'Support'], reason: 'catch-up' },
        { at: '2024-10-28T19:00:00.000Z', teams: ['EUC', 'Support'], reason: 'scheduled' },
      ]);
    });

    it('with a sample of every team today: no poll until the next evening', async () => {
      const h = harness({ zone: 'Europe/London', startIso: '2024-10-27T21:30:00Z', sampled: ['EUC', 'Support'] });
      await h.until('2024-10-28T20:00:00Z');
      await h.stop();

      assert.deepEqual(h.polls.map((p) => [p.at, p.reason]), [['2024-10-28T19:00:00.000Z', 'scheduled']]);
    });

    it('with a sample of one team today: only the other one is polled', async () => {
      const h = harness({ zone: 'Australia/Sydney', startIso: '2024-04-07T12:00:00Z', sampled: ['EUC'] }); // 22:00 AEST
      await h.until('2024-04-07T12:00:01Z');
      await h.stop();

      assert.deepEqual(h.polls, [{ at: '2024-04-07T12:00:00.000Z', teams: ['Support'], reason: 'catch-up' }]);
    });

    it('when today\'s samples cannot be read, it polls rather than skip the day', async () => {
      const clock = new TestClock(Date.parse('2024-10-27T21:30:00Z'));
      const polls: string[] = [];
      const errors: unknown[] = [];
      const scheduler = new BacklogScheduler({
        teams: ['EUC'], pollAt: { hour: 19, minute: 0 }, timezone: 'Europe/London', clock,
        poll: async (teams) => {
          polls.push(new Date(clock.now()).toISOString());
          return { failed: [] };
        },
        sampledTeamsOn: async () => {
          throw new Error('log unreadable');
        },
        onError: (e) => errors.push(e),
      });
      const running = scheduler.run();
      await clock.runUntil(Date.parse('2024-10-27T21:30:01Z'));
      await scheduler.stop();
      await running;

      assert.deepEqual(polls, ['2024-10-27T21:30:00.000Z']);
      assert.equal(errors.length, 1);
    });

    it('a local date is the zone\'s: 00:30 in Sydney is after no poll time yet, whatever the UTC date', async () => {
      const h = harness({ zone: 'Australia/Sydney', startIso: '2024-04-06T13:30:00Z' }); // 00:30 AEDT on 04-07
      await h.until('2024-04-07T08:59:59Z');
      assert.equal(h.polls.length, 0);
      await h.until('2024-04-07T09:00:00Z');
      await h.stop();
      assert.deepEqual(h.polls.map((p) => p.at), ['2024-04-07T09:00:00.000Z']);
    });
  });

  describe('failures', () => {
    it('a team whose poll failed in a retriable way is polled again 15 minutes later, the others are not', async () => {
      let calls = 0;
      const h = harness({
        zone: 'America/New_York', startIso: '2024-03-10T12:00:00Z',
        answer: async () => (++calls === 1 ? { failed: [{ team: 'Support', retriable: true }] } : { failed: [] }),
      });
      await h.until('2024-03-11T12:00:00Z');
      await h.stop();

      assert.deepEqual(h.polls, [
        { at: '2024-03-10T23:00:00.000Z', teams: ['EUC', 'Support'], reason: 'scheduled' },
        { at: '2024-03-10T23:15:00.000Z', teams: ['Support'], reason: 'retry' },
      ]);
    });

    it('refused credentials are not tried again that day; the next day polls as usual', async () => {
      let calls = 0;
      const h = harness({
        zone: 'America/New_York', startIso: '2024-03-10T12:00:00Z',
        answer: async () => {
          if (++calls === 1) throw new UpstreamAuthError('401');
          return { failed: [] };
        },
      });
      await h.until('2024-03-12T00:00:00Z');
      await h.stop();

      assert.deepEqual(h.polls.map((p) => p.at), ['2024-03-10T23:00:00.000Z', '2024-03-11T23:00:00.000Z']);
    });

    it('retries stop when the local day ends', async () => {
      const h = harness({
        zone: 'UTC', startIso: '2024-01-01T12:00:00Z', pollAt: { hour: 23, minute: 50 },
        answer: async (teams) => ({ failed: teams.map((team) => ({ team, retriable: true })) }),
      });
      await h.until('2024-01-02T23:49:00Z');
      await h.stop();

      assert.deepEqual(h.polls.map((p) => p.at), ['2024-01-01T23:50:00.000Z']);
    });
  });

  describe('teams with a day of their own', () => {
    it('each team is polled at its own poll time in its own zone; teams sharing both are polled together', async () => {
      // New York by default at 19:00; EUC tasks at 07:00 New York; Tokyo desk at 18:30 Tokyo (UTC+9, no DST).
      // Started on Saturday 2024-03-09 at 17:00Z: 12:00 EST (after EUC tasks' 07:00, which has a sample that
      // day) and 02:00 JST on 03-10 (before Tokyo's 18:30). New York goes to EDT on 03-10.
      const h = harness({
        zone: 'America/New_York', startIso: '2024-03-09T17:00:00Z',
        teams: ['EUC', { team: 'EUC tasks', pollAt: { hour: 7, minute: 0 } }, { team: 'Tokyo desk', timezone: 'Asia/Tokyo', pollAt: { hour: 18, minute: 30 } }, { team: 'Support', timezone: 'America/New_York' }],
        sampled: (date) => (date === '2024-03-09' ? ['EUC tasks'] : []),
      });
      await h.until('2024-03-09T17:00:01Z');

      assert.equal(new Date(h.scheduler.nextPollAt!).toISOString(), '2024-03-10T00:00:00.000Z');
      assert.deepEqual(h.scheduler.schedules.map((s) => [s.teams.join(','), s.timezone, s.pollAt, new Date(s.nextPollAt!).toISOString()]), [
        ['EUC,Support', 'America/New_York', '19:00', '2024-03-10T00:00:00.000Z'],
        ['EUC tasks', 'America/New_York', '07:00', '2024-03-10T11:00:00.000Z'],
        ['Tokyo desk', 'Asia/Tokyo', '18:30', '2024-03-10T09:30:00.000Z'],
      ]);
      await h.until('2024-03-12T00:00:00Z');
      await h.stop();

      assert.deepEqual(h.asked, ['2024-03-09'], 'only EUC tasks had passed its poll time at the start');
      assert.deepEqual(h.polls.map(pollLine), [
        '2024-03-10T00:00:00.000Z scheduled EUC,Support', // 19:00 EST 03-09
        '2024-03-10T09:30:00.000Z scheduled Tokyo desk', // 18:30 JST 03-10
        '2024-03-10T11:00:00.000Z scheduled EUC tasks', // 07:00 EDT 03-10
        '2024-03-10T23:00:00.000Z scheduled EUC,Support', // 19:00 EDT 03-10
        '2024-03-11T09:30:00.000Z scheduled Tokyo desk',
        '2024-03-11T11:00:00.000Z scheduled EUC tasks',
        '2024-03-11T23:00:00.000Z scheduled EUC,Support',
      ]);
      assert.equal(h.scheduler.lastPoll?.teams.join(','), 'EUC,Support');
      assert.equal(h.scheduler.nextPollAt, undefined);
      assert.equal(h.clock.pendingTimers, 0);
    });

    it('a team whose own day has begun is caught up in its own zone: Tokyo\'s date, not New York\'s', async () => {
      // 2024-11-04T23:30Z: 18:30 EST on 11-04 (before New York's 19:00), 08:30 JST on 11-05 (after Tokyo's 08:00).
      const h = harness({
        zone: 'America/New_York', startIso: '2024-11-04T23:30:00Z',
        teams: ['EUC', { team: 'Tokyo desk', timezone: 'Asia/Tokyo', pollAt: { hour: 8, minute: 0 } }],
      });
      await h.until('2024-11-05T00:00:00Z');
      await h.stop();

      assert.deepEqual(h.asked, ['2024-11-05']);
      assert.deepEqual(h.polls.map(pollLine), ['2024-11-04T23:30:00.000Z catch-up Tokyo desk', '2024-11-05T00:00:00.000Z scheduled EUC']);
    });
  });
});
