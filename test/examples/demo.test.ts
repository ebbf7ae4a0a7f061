// examples/demo as PID 1, as `npm run demo` runs it: setup (oneshot) → app (ready on a
// log line) → web; flaky crashes and is restarted with backoff; app exits 0 by itself
// after ~6 s, and tend stops the rest and exits with app's 0.
import { afterEach, describe, expect, it } from 'vitest';
import { canUnshare } from '../helpers/tend';
import { allIn, killLeftovers, shutdownIndex, startExample, stateIndex } from './helpers';

afterEach(killLeftovers);

describe.skipIf(!canUnshare())('examples/demo', () => {
  it('starts in order, restarts flaky with backoff, and ends with app\'s 0 once app is done', async () => {
    const demo = startExample('demo');
    await demo.waitStatus((doc) => allIn(doc, ['setup'], ['completed']) && allIn(doc, ['app'], ['ready']) && allIn(doc, ['web'], ['running']), 'app ready, web running');
    demo.follow();
    await demo.waitStatus((doc) => doc.services.some((s) => s.name === 'flaky' && s.restarts >= 1 && s.last_exit !== null && 'code' in s.last_exit && s.last_exit.code === 3), 'flaky restarted after its exit 3');
    expect((await demo.service('app')).restarts).toBe(0);

    const { code } = await demo.tend.exited;
    expect(code).toBe(0);
    expect(demo.tend.stdout).toContain('work finished; exiting 0');
    const events = demo.stream();
    const begins = shutdownIndex(events);
    expect(stateIndex(events, 'web', 'stopped', begins)).toBeGreaterThan(begins);
  });
});
