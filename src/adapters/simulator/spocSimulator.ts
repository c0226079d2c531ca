/** Options of the synthetic SPOC source (`opsfold simulate`, and `start` with nothing real configured). */
export interface SimulatorOptions {
  tenants: number;
  vmsPerTenant: number;
  keys: number;
  /** First simulated minute, epoch seconds. */
  startSeconds: number;
  minutes: number;
  /** Fraction (0..1) of tenant messages held back and sent `lateMinutes` later. */
  lateFraction?: number;
  lateMinutes?: number;
  seed?: number;
}

const PERF = [
  ['win_cpu', 'percent_processor_time'], ['win_mem', 'available_mbytes'], ['win_disk', 'percent_idle_time'],
  ['win_net', 'bytes_total_persec'], ['win_service', 'WinDefend'],
] as const;

/** The counter key names the simulator uses, `PerfType.PerfName`. */
export function simulatedKey(i: number): { PerfType: string; PerfName: string } {
  const [type, name] = PERF[i % PERF.length];
  return { PerfType: type, PerfName: i < PERF.length ? name : `${name}_${Math.floor(i / PERF.length)}` };
}

/** Deterministic pseudo-random numbers (mulberry32), so a simulation can be repeated. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * SPOC messages, one per tenant and minute with every VM's counters of that minute, in
 * arrival order: some tenants' messages arrive late, as SPOC's 15-minute pushes do.
 */
export function* simulateSpoc(o: SimulatorOptions): Generator<{ metrics: Record<string, unknown>[] }> {
  const rnd = random(o.seed ?? 1);
  const held: { due: number; message: { metrics: Record<string, unknown>[] } }[] = [];
  for (let minute = 0; minute < o.minutes; minute++) {
    for (const h of held.filter((x) => x.due <= minute)) yield h.message;
    held.splice(0, held.length, ...held.filter((x) => x.due > minute));
    for (let tenant = 0; tenant < o.tenants; tenant++) {
      const tenantId = `T${tenant}+sim/${(tenant * 7919) % 1000}==`;
      const metrics: Record<string, unknown>[] = [];
      for (let vm = 0; vm < o.vmsPerTenant; vm++) {
        for (let k = 0; k < o.keys; k++) {
          metrics.push({
            timestamp: o.startSeconds + minute * 60 + Math.floor(rnd() * 60),
            MaskedTenantId: tenantId,
            SiteName: null,
            MaskedVMName: `Shared${tenant}vm${vm}/sim=`,
            ResourcePoolName: `Shared-${tenant % 7}`,
            Region: 'centralindia',
            MachineSize: 'Standard_D4s_v4',
            ...simulatedKey(k),
            PerfValue: Math.round(rnd() * 10000) / 100,
          });
        }
      }
      const message = { metrics };
      if (o.lateFraction && rnd() < o.lateFraction) held.push({ due: minute + (o.lateMinutes ?? 5), message });
      else yield message;
    }
  }
  for (const h of held) yield h.message;
}
