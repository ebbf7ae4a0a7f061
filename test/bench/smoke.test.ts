// CI runs the benchmark suite in smoke mode (tiny sizes, one run, no timing judgement) so
// the benchmarks never rot: it must complete and report every figure. Peers (tini,
// dumb-init, supervisord) may be absent in CI: they are reported as missing, which is
// not a failure. A figure that errors for tend itself is a failure.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/tend';

const FIGURES = ['startup', 'idle-rss', 'idle-cpu', 'storm', 'sigterm', 'daemons', 'restart', 'logs-prefixed', 'logs-file', 'logs-peak-rss', 'status', 'status-cli', 'fleet-start', 'fleet-stop', 'tracking', 'shutdown',
  'scale-start', 'scale-stop', 'scale-rss', 'scale-rss-per-service', 'scale-rss-idle', 'scale-rss-idle-per-service', 'scale-status', 'scale-reload-reply', 'scale-reload-up', 'scale-idle-cpu', 'scale-wakeups',
  'sd-notify', 'sd-notify-exec', 'syslog', 'socket-restart'];

interface Report {
  smoke: boolean;
  peers: Record<string, { version?: string; missing?: string }>;
  figures: { id: string; title: string; primary?: string; results: Record<string, { samples?: number[]; missing?: string; na?: string; error?: string }> }[];
}

describe('benchmark suite (smoke)', () => {
  it('completes and reports every figure', () => {
    const out = tempDir('tend-bench-smoke-');
    const r = spawnSync(process.execPath, [join(ROOT, 'bench', 'run.mjs'), '--smoke', '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 170_000 });
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'benchmarks.json'), 'utf8')) as Report;
    const markdown = readFileSync(join(out, 'benchmarks.md'), 'utf8');
    expect(report.smoke).toBe(true);
    expect(report.figures.map((f) => f.id).sort()).toEqual([...FIGURES].sort());
    for (const figure of report.figures) {
      // The subject a figure is judged on: `tend run`, or the largest size of the scale figures.
      const tend = figure.results[figure.primary ?? 'tend run'];
      expect(tend?.error, `${figure.id}: ${tend?.error}`).toBeUndefined();
      expect(tend?.samples?.length, `${figure.id} has samples for tend`).toBeGreaterThan(0);
      for (const value of tend!.samples!) expect(Number.isFinite(value), `${figure.id}: ${value}`).toBe(true);
      expect(markdown).toContain(`## ${figure.title}`);
    }
    for (const [peer, p] of Object.entries(report.peers)) {
      if (p.missing) {
        console.warn(`benchmark peer ${peer} is not installed here: reported as missing (${p.missing})`);
        expect(markdown).toContain(`${peer}: **missing**`);
      }
    }
  }, 180_000);
});
