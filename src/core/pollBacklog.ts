import type { BacklogTeam } from './backlogTeam';
import type { BacklogSample, BacklogSampled } from './events';
import { OpsfoldError, UpstreamAuthError } from './errors';

/** Counts the incidents a ServiceNow query matches (implemented by the ServiceNow adapter). */
export interface IncidentCounter {
  countIncidents(query: string): Promise<number>;
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
 * Reads each team's count once, one team after another, each sample stamped with the time its
 * answer arrived. A refused credential (401/403) stops the poll at once and is thrown: every
 * other team would be refused too, and nothing should be recorded.
 */
export async function pollBacklog(teams: readonly BacklogTeam[], counter: IncidentCounter, now: () => number = Date.now): Promise<PollOutcome> {
  const outcome: PollOutcome = { samples: [], failures: [] };
  for (const { team, query } of teams) {
    try {
      const count = await counter.countIncidents(query);
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
