// `wait` for handlers: re-check a condition on every event until it holds (or can no
// longer hold), or until the client goes away or its --timeout aborts the call.
import { fail, type Result, type TendEvent, type Unsubscribe } from './api';

/**
 * `check` returns the answer, or null while the condition is still pending. It runs once
 * now and then after each event `subscribe` delivers; `signal` aborts with `timeout`.
 */
export function waitFor<T>(
  check: () => Result<T> | null,
  subscribe: (listener: (event: TendEvent) => void) => Unsubscribe,
  signal: AbortSignal,
  what: string,
): Promise<Result<T>> {
  const now = check();
  if (now !== null) return Promise.resolve(now);
  return new Promise((resolve) => {
    const finish = (result: Result<T>): void => {
      unsubscribe();
      signal.removeEventListener('abort', aborted);
      resolve(result);
    };
    const aborted = (): void => finish(fail('timeout', `gave up waiting for ${what}`));
    const unsubscribe = subscribe(() => {
      const result = check();
      if (result !== null) finish(result);
    });
    signal.addEventListener('abort', aborted, { once: true });
  });
}
