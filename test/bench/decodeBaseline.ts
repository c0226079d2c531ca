/**
 * The decode baseline as a process (cliBench.ts): read an NDJSON file line by line with a plain
 * Node loop and JSON.parse each line, as any program reading the file must; prints the metrics.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

async function main(file: string): Promise<void> {
  let metrics = 0;
  for await (const line of createInterface({ input: createReadStream(file, { highWaterMark: 1 << 20 }), crlfDelay: Infinity })) {
    if (line.length > 0) metrics += (JSON.parse(line) as { metrics: unknown[] }).metrics.length;
  }
  process.stdout.write(`${JSON.stringify({ metrics })}\n`);
}

main(process.argv[2]).catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
