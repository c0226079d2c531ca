/**
 * The last answers of a read made from memory, each kept with the stamp of what it was made from
 * (the windows' stamp and the final bound): dashboards and on-call engineers ask for the same few
 * ranges again and again between two changes of a key's windows, and an answer kept as its bytes
 * costs none of its making (the buckets, their JSON). At most `max` answers; when full, all go.
 *
 * @example
 * const body = memo.get(id, stamp) ?? memo.set(id, stamp, Buffer.from(JSON.stringify(answer())));
 */
export class AnswerMemo {
  private readonly answers = new Map<string, { stamp: string; body: Buffer }>();

  constructor(private readonly max = 64) {}

  /** The body kept for `id`, if it was made at `stamp`. */
  get(id: string, stamp: string): Buffer | undefined {
    const kept = this.answers.get(id);
    return kept !== undefined && kept.stamp === stamp ? kept.body : undefined;
  }

  /** Keeps `body` for `id` as made at `stamp`; returns it. */
  set(id: string, stamp: string, body: Buffer): Buffer {
    if (this.answers.size >= this.max && !this.answers.has(id)) this.answers.clear();
    this.answers.set(id, { stamp, body });
    return body;
  }
}
