import type { ChildProcess } from 'node:child_process';

/**
 * Sends `message` to a forked child (none when undefined: to wait for what it says by itself), and
 * resolves with the first message back that `accept` takes; the others are left to other askers.
 */
export function askChild<T>(child: ChildProcess, message: unknown, accept: (m: unknown) => m is T): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      if (!accept(m)) return;
      child.off('message', onMessage);
      resolve(m);
    };
    child.on('message', onMessage);
    if (message !== undefined) child.send(message as object);
  });
}
