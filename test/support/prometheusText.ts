import assert from 'node:assert/strict';

/** A metric family as parse-prometheus-text-format reads it. */
export interface Family {
  name: string;
  help: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }[];
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const parse = require('parse-prometheus-text-format') as (text: string) => Family[];

/**
 * Parses Prometheus text with an independent parser and checks what `promtool check metrics`
 * checks: every family has HELP and TYPE, names are valid, counters end in `_total`, no family
 * appears twice. Returns the families by name.
 */
export function checkPrometheusText(text: string): Map<string, Family> {
  const helpLines = new Set([...text.matchAll(/^# HELP (\S+) \S/gm)].map((m) => m[1]));
  const typeLines = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]);
  assert.equal(new Set(typeLines).size, typeLines.length, 'a metric family is declared twice');
  const families = parse(text);
  const byName = new Map<string, Family>();
  for (const family of families) {
    assert.match(family.name, /^[a-zA-Z_:][a-zA-Z0-9_:]*$/, `metric name ${family.name}`);
    assert.ok(helpLines.has(family.name), `${family.name} has no HELP`);
    assert.ok(typeLines.includes(family.name), `${family.name} has no TYPE`);
    if (family.type === 'COUNTER') assert.match(family.name, /_total$/, `counter ${family.name} should end in _total`);
    byName.set(family.name, family);
  }
  return byName;
}

/** The value of an unlabelled metric, or of the sample with exactly these labels. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.get(name);
  const wanted = JSON.stringify(Object.entries(labels).sort());
  const sample = family?.metrics.find((m) => JSON.stringify(Object.entries(m.labels ?? {}).sort()) === wanted);
  return sample?.value === undefined ? undefined : Number(sample.value);
}
