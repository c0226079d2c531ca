import { DEFAULT_TABLE, type BacklogTeam } from './backlogTeam';
import type { BacklogSample, BacklogSampled } from './events';
import { OpsfoldError, UpstreamAuthError } from './errors';

/** Counts the records of a ServiceNow table that a query matches (implemented by the ServiceNow adapter). */
export interface RecordCounter {
  countRecords(table: string, query: string): Promise<number>;
}

export interface PollFailure {
  team: string;
  message: string;
  /** Trying again later may help (5xx, timeouts, network), unlike a refused credential. */
  retriable: boolean;
}

export interface PollOutcome {
  samples: BacklogSample[];
  failures: PollFailure[];
}

/**
 * Reads each team's count once (from its table, `incident` by default), one team after another, each sample stamped with the time its
 * answer arrived. A refused credential (401/403) stops the poll at once and is thrown: every
 * other team would be refused too, and nothing should be recorded.
 */
export async function pollBacklog(teams: readonly BacklogTeam[], counter: RecordCounter, now: () => number = Date.now): Promise<PollOutcome> {
  const outcome: PollOutcome = { samples: [], failures: [] };
  for (const { team, query, table = DEFAULT_TABLE } of teams) {
    try {
      const count = await counter.countRecords(table, query);
      outcome.samples.push({ team, sampledAtMs: now(), count, query });
    } catch (error) {
      if (error instanceof UpstreamAuthError) throw error;
      const retriable = error instanceof OpsfoldError ? error.retriable : true;
      outcome.failures.push({ team, message: (error as Error).message, retriable });
    }
  }
  return outcome;
}

/** The log event of a poll's samples. */
export function polledEvent(samples: BacklogSample[], origin: string, recordedAtMs: number): BacklogSampled {
  return { type: 'BacklogSampled', source: 'servicenow', recordedAtMs, origin, samples };
}
