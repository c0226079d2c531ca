/**
 * Messages whose windows a test can work out by itself, and a load that posts them as a client
 * would: each with its own Idempotency-Key, so that a message whose answer never came (the service
 * stopped meanwhile) can be sent again after a restart without being counted twice.
 */
export const LOAD_KEY = 'win_cpu.percent';
export const LOAD_T0 = 1_700_000_000 - (1_700_000_000 % 60);
export const LOAD_MINUTES = 10;

/** Message i: one metric in minute i mod 10 after LOAD_T0, of value i. */
export function loadMessage(i: number): { metrics: Record<string, unknown>[] } {
  return {
    metrics: [{ timestamp: LOAD_T0 + (i % LOAD_MINUTES) * 60 + 7, MaskedTenantId: 'tenant/a+', MaskedVMName: 'vm=1', PerfType: 'win_cpu', PerfName: 'percent', PerfValue: i }],
  };
}

/** Posts message i with key `m<i>`; the status, or undefined when no answer came (refused, reset). */
export async function postMessage(base: string, i: number): Promise<number | undefined> {
  try {
    const res = await fetch(`${base}/v1/spoc`, { method: 'POST', body: JSON.stringify(loadMessage(i)), headers: { 'content-type': 'application/json', 'idempotency-key': `m${i}` } });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return undefined;
  }
}

/** The windows messages `sent` make: per minute, the metrics' count and average (by DESIGN §2, not by the code under test). */
export function expectedWindows(sent: Iterable<number>): { timestamp: number; count: number; value: number }[] {
  const minutes = new Map<number, number[]>();
  for (const i of sent) {
    const t = LOAD_T0 + (i % LOAD_MINUTES) * 60;
    minutes.set(t, [...(minutes.get(t) ?? []), i]);
  }
  return [...minutes].sort(([a], [b]) => a - b).map(([timestamp, values]) => ({ timestamp, count: values.length, value: values.reduce((a, b) => a + b, 0) / values.length }));
}

/** The service's windows of LOAD_KEY over the ten minutes, as get-data answers them. */
export async function loadWindows(base: string): Promise<{ timestamp: number; count: number; value: number }[]> {
  const url = `${base}/v1/get-data?key=${encodeURIComponent(LOAD_KEY)}&minutes=${LOAD_MINUTES}&to=${LOAD_T0 + (LOAD_MINUTES - 1) * 60}`;
  const res = await fetch(url);
  if (res.status !== 200) return [];
  const body = (await res.json()) as { data: { timestamp: number; count: number; value: number }[] };
  return body.data.map(({ timestamp, count, value }) => ({ timestamp, count, value }));
}

/** Whether two window lists agree (averages to 1e-9: a sum's rounding may differ with the order of the additions). */
export function sameWindows(got: { timestamp: number; count: number; value: number }[], want: { timestamp: number; count: number; value: number }[]): boolean {
  return got.length === want.length && got.every((g, k) => g.timestamp === want[k].timestamp && g.count === want[k].count && Math.abs(g.value - want[k].value) < 1e-9);
}

/**
 * Two clients posting messages 0, 1, 2… one after the other until `stop()`; `acknowledged` holds
 * those answered 202, `unanswered` those whose answer did not come.
 */
export class SpocLoad {
  readonly acknowledged = new Set<number>();
  readonly unanswered = new Set<number>();
  private next = 0;
  private stopped = false;
  private readonly loops: Promise<void>[];

  constructor(private readonly base: string, from = 0, clients = 2) {
    this.next = from;
    this.loops = Array.from({ length: clients }, () => this.loop());
  }

  /** Every message sent, answered or not. */
  get sent(): number[] {
    return [...this.acknowledged, ...this.unanswered].sort((a, b) => a - b);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const i = this.next++;
      const status = await postMessage(this.base, i);
      if (status === 202) this.acknowledged.add(i);
      else if (status === undefined) this.unanswered.add(i);
      else throw new Error(`message ${i} was answered ${status}`);
      // After the first refusal, the service is stopping: no point in hammering a closed port.
      if (status === undefined && this.unanswered.size > 3) return;
    }
  }
}
