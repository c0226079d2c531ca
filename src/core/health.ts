/**
 * One piece's answer to "is all well?": a reason for each thing that is not (empty when all is).
 * A reason is a sentence a person on call can act on, e.g. "storage: unreachable (connect ECONNREFUSED)".
 */
export type HealthCheck = () => readonly string[] | Promise<readonly string[]>;

/**
 * The checks `/healthz` runs: every piece of the service that can go wrong adds its own (storage,
 * projectors, the log, …), and the service is healthy when none of them reports a problem.
 *
 * @example
 * const checks = new HealthChecks();
 * checks.add('projector', () => (projections.failure ? [`failing: ${projections.failure.message}`] : []));
 * await checks.report(); // {"status":"ok","problems":[]} (HTTP 200), or {"status":"failing","problems":["projector: failing: …"]} (503)
 */
export class HealthChecks {
  private readonly checks = new Map<string, HealthCheck>();

  /** Adds (or replaces) the check called `name`. */
  add(name: string, check: HealthCheck): this {
    this.checks.set(name, check);
    return this;
  }

  /** Every check's problems, in the order the checks were added; a check that throws is a problem itself. */
  async problems(): Promise<string[]> {
    const answers = await Promise.all([...this.checks].map(async ([name, check]) => {
      try {
        return [...(await check())];
      } catch (error) {
        return [`${name}: the health check failed: ${(error as Error).message}`];
      }
    }));
    return answers.flat();
  }

  /** The head of /healthz's body: `status` ("ok" when no check reports a problem, else "failing") and the `problems`. */
  async report(): Promise<{ status: 'ok' | 'failing'; problems: string[] }> {
    const problems = await this.problems();
    return { status: problems.length === 0 ? 'ok' : 'failing', problems };
  }
}

/**
 * `check`, run at most once per `ttlMs`, for a check that costs a request (a storage probe) behind
 * an endpoint polled often. Calls within the ttl get the last answer. The first call after it starts
 * a new run and, like every call while that run is on, gets the last answer at once (a probe of
 * /healthz never waits for the storage's round trip); so an answer is at most the ttl plus one run
 * old. Only the very first run, with no answer before it, is waited for (calls during it share it).
 * A run that threw is not kept: its callers get the error, the next call runs again.
 */
export function cachedCheck(check: HealthCheck, ttlMs: number, now: () => number = Date.now): HealthCheck {
  let startedAtMs = -Infinity;
  let running: Promise<readonly string[]> | undefined;
  let settled: { answer: readonly string[] } | undefined;
  return () => {
    if (running === undefined && now() - startedAtMs >= ttlMs) {
      startedAtMs = now();
      const run = Promise.resolve().then(check);
      running = run;
      run.then((answer) => (settled = { answer }), () => (startedAtMs = -Infinity)).finally(() => (running = undefined));
    }
    return settled ? settled.answer : running!;
  };
}
