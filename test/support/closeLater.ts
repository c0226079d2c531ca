import type { TestContext } from 'node:test';

interface Closable {
  close(): Promise<unknown>;
}

/**
 * Returns a function that registers something to close when the test ends, last registered
 * first (clients before the server they talk to), so that no connection keeps the run alive.
 * Everything is closed even when one close fails; the first failure is rethrown.
 */
export function closeLater(t: TestContext): <T extends Closable>(closable: T) => T {
  const stack: Closable[] = [];
  t.after(async () => {
    const failures: unknown[] = [];
    for (const closable of stack.reverse()) await closable.close().catch((error: unknown) => failures.push(error));
    if (failures.length > 0) throw failures[0];
  });
  return (closable) => {
    stack.push(closable);
    return closable;
  };
}
