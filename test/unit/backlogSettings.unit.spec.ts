import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeSettings, loadSettings } from '../../src/config/settings';
import { ConfigError } from '../../src/core/errors';

const load = (env: Record<string, string>) => loadSettings({}, env).settings;

function refuses(env: Record<string, string>, setting: string, message: RegExp): void {
  assert.throws(() => load(env), (e: unknown) => e instanceof ConfigError && e.setting === setting && message.test(e.message), JSON.stringify(env));
}

describe('backlog settings', () => {
  it('defaults: UTC, 19:00, basic auth, default Key Vault secret names, no teams', () => {
    const s = load({});
    assert.equal(s.backlogTimezone, 'UTC');
    assert.equal(s.backlogPollAt, '19:00');
    assert.equal(s.serviceNowAuth, 'basic');
    assert.equal(s.backlogTeams, undefined);
    assert.equal(s.serviceNowPasswordSecret, 'servicenow-password');
    assert.equal(s.apiTokenSecret, 'opsfold-api-token');
  });

  it('reads teams, zone, poll time and a loopback http instance', () => {
    const s = load({
      BACKLOG_TEAMS: '[{"team":"EUC","query":"active=true^assignment_group.name=EUC"},{"team":"Support","query":"active=true"}]',
      BACKLOG_TIMEZONE: 'Australia/Sydney', BACKLOG_POLL_AT: '7:30', SERVICENOW_INSTANCE_URL: 'http://127.0.0.1:8123/', SERVICENOW_AUTH: 'OAuth',
    });
    assert.deepEqual(s.backlogTeams, [{ team: 'EUC', query: 'active=true^assignment_group.name=EUC' }, { team: 'Support', query: 'active=true' }]);
    assert.equal(s.backlogPollAt, '07:30');
    assert.equal(s.serviceNowInstanceUrl, 'http://127.0.0.1:8123');
    assert.equal(s.serviceNowAuth, 'oauth');
  });

  it('refuses wrong values, naming the setting', () => {
    refuses({ BACKLOG_TIMEZONE: 'Europe/Londres' }, 'BACKLOG_TIMEZONE', /IANA time zone/);
    refuses({ BACKLOG_POLL_AT: '7pm' }, 'BACKLOG_POLL_AT', /HH:mm/);
    refuses({ BACKLOG_TEAMS: '[{"team":"EUC"' }, 'BACKLOG_TEAMS', /not valid JSON/);
    refuses({ BACKLOG_TEAMS: '{"team":"EUC"}' }, 'BACKLOG_TEAMS', /JSON array/);
    refuses({ BACKLOG_TEAMS: '[{"team":"EUC","query":""}]' }, 'BACKLOG_TEAMS', /BACKLOG_TEAMS\[0\]\.query/);
    refuses({ BACKLOG_TEAMS: '[{"team":"A","query":"x"},{"team":"A","query":"y"}]' }, 'BACKLOG_TEAMS', /BACKLOG_TEAMS\[1\]\.team "A" appears twice/);
    refuses({ SERVICENOW_INSTANCE_URL: 'http://acme.service-now.com' }, 'SERVICENOW_INSTANCE_URL', /https/);
    refuses({ SERVICENOW_INSTANCE_URL: 'acme.service-now.com' }, 'SERVICENOW_INSTANCE_URL', /https/);
    refuses({ SERVICENOW_AUTH: 'ntlm' }, 'SERVICENOW_AUTH', /basic or oauth/);
    refuses({ KEY_VAULT_URL: 'http://127.0.0.1:1' }, 'KEY_VAULT_URL', /https/);
    refuses({ SERVICENOW_PASSWORD_SECRET: 'snow_password' }, 'SERVICENOW_PASSWORD_SECRET', /secret name/);
  });

  it('an entry may name its ServiceNow table and have a zone and a poll time of its own', () => {
    const s = load({
      BACKLOG_TEAMS: JSON.stringify([
        { team: 'EUC', query: 'active=true^assignment_group.name=EUC' },
        { team: 'EUC tasks', query: 'active=true^assignment_group.name=EUC', table: 'sc_task' },
        { team: 'Tokyo desk', query: 'active=true^assignment_group.name=Tokyo', table: 'u_desk_request_2', timezone: 'Asia/Tokyo', pollAt: '8:05' },
      ]),
    });
    assert.deepEqual(s.backlogTeams, [
      { team: 'EUC', query: 'active=true^assignment_group.name=EUC' },
      { team: 'EUC tasks', query: 'active=true^assignment_group.name=EUC', table: 'sc_task' },
      { team: 'Tokyo desk', query: 'active=true^assignment_group.name=Tokyo', table: 'u_desk_request_2', timezone: 'Asia/Tokyo', pollAt: '08:05' },
    ]);
  });

  it('refuses a wrong table, zone, poll time or key, naming the entry', () => {
    const teams = (extra: Record<string, unknown>) => ({ BACKLOG_TEAMS: JSON.stringify([{ team: 'EUC', query: 'q' }, { team: 'EUC tasks', query: 'q', ...extra }]) });
    refuses(teams({ table: 'SC_TASK' }), 'BACKLOG_TEAMS', /^BACKLOG_TEAMS\[1\]\.table must be a ServiceNow table name \(lowercase letters, digits and underscores, such as incident or sc_task\), got "SC_TASK"$/);
    refuses(teams({ table: '../sys_user' }), 'BACKLOG_TEAMS', /BACKLOG_TEAMS\[1\]\.table must be a ServiceNow table name/);
    refuses(teams({ table: '' }), 'BACKLOG_TEAMS', /BACKLOG_TEAMS\[1\]\.table/);
    refuses(teams({ table: 42 }), 'BACKLOG_TEAMS', /BACKLOG_TEAMS\[1\]\.table .*got 42/);
    refuses(teams({ timezone: 'Asia/Tokio' }), 'BACKLOG_TEAMS', /BACKLOG_TEAMS\[1\]\.timezone must be an IANA time zone .*"Asia\/Tokio"/);
    refuses(teams({ pollAt: '25:00' }), 'BACKLOG_TEAMS', /BACKLOG_TEAMS\[1\]\.pollAt must be a time of day HH:mm/);
    refuses(teams({ timeZone: 'Asia/Tokyo' }), 'BACKLOG_TEAMS', /BACKLOG_TEAMS\[1\] has the unknown key "timeZone"/);
  });

  it('`opsfold config` shows the teams as JSON and masks the password', () => {
    const { settings, sources } = loadSettings({}, { BACKLOG_TEAMS: '[{"team":"EUC","query":"q"}]', SERVICENOW_PASSWORD: 'hunter2' });
    const shown = describeSettings(settings, sources);
    assert.equal(shown.find((s) => s.env === 'BACKLOG_TEAMS')?.value, '[{"team":"EUC","query":"q"}]');
    assert.equal(shown.find((s) => s.env === 'SERVICENOW_PASSWORD')?.value, '****');
    assert.ok(!JSON.stringify(shown).includes('hunter2'));
  });
});
