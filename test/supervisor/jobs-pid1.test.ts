// Scheduled oneshots end to end, tend as PID 1 with real processes and croner's real
// timers (second-resolution schedules): forbid skips and counts, replace stops the old run
// before the new one starts, allow runs both at once, timeout stops a run and counts a
// failure, time_zone moves the next run, `tend start JOB` runs it now, the counts in
// `tend status` (text and JSON), /status and /metrics (parsed as Prometheus text) agree,
// and a bad time zone is a located error.
import { afterEach, describe, expect, it } from 'vitest';
import parsePrometheusTextFormat, { type Family } from 'parse-prometheus-text-format';
import { canUnshare, lines, runTendSync, tempDir, waitFor, writeManifest } from '../helpers/tend';
import { ensureBuilt } from '../helpers/build';
import { freePort, get, killLeftovers, startManifest } from '../examples/helpers';
import type { JobStatus, ServiceStatus, StatusDocument } from '../../src/control/api';

afterEach(killLeftovers);
ensureBuilt();

const jobOf = (doc: StatusDocument, name = 'job'): JobStatus & { service: ServiceStatus } => {
  const service = doc.services.find((s) => s.name === name)!;
  return { ...service.job!, service };
};

describe.skipIf(!canUnshare())('scheduled jobs as PID 1', () => {
  it('forbid: a run longer than the interval makes the next due runs skip, counted; never two at once', async () => {
    const dir = tempDir('tend-jobs-');
    const file = writeManifest(dir, `
services:
  app: { main: true, command: ["sleep", "600"] }
  job:
    type: oneshot
    schedule: "* * * * * *"
    command: 'echo start >> "$DIR/runs"; sleep 2.5; echo end >> "$DIR/runs"'
`);
    const tend = startManifest(file, { DIR: dir });
    await tend.waitStatus((d) => d.services.find((x) => x.name === 'app')?.state === 'running', 'app running');
    tend.follow();
    const doc = await tend.waitStatus((d) => jobOf(d).runs.skipped >= 2 && jobOf(d).runs.success >= 1, 'two skips and a success');
    await waitFor(() => tend.stream().some((e) => e.type === 'job' && e.result === 'success'), { what: () => `a success on tend events: ${JSON.stringify(tend.stream())}` });
    expect(tend.stream().find((e) => e.type === 'job' && e.result === 'skipped')).toMatchObject({ service: 'job', detail: 'due while the previous run was running' });
    const job = jobOf(doc);
    expect(job.concurrency).toBe('forbid');
    // Runs never overlapped: starts and ends alternate.
    const runs = lines(`${dir}/runs`);
    for (let i = 0; i + 1 < runs.length; i++) expect(runs[i]).not.toBe(runs[i + 1]);
    expect(tend.events().some((m) => m === 'job: scheduled run skipped: the previous run is still running')).toBe(true);
  });

  it('replace: the running run gets its stop signal and ends before the new run starts', async () => {
    const dir = tempDir('tend-jobs-');
    const file = writeManifest(dir, `
services:
  app: { main: true, command: ["sleep", "600"] }
  job:
    type: oneshot
    schedule: "*/2 * * * * *"
    concurrency: replace
    command: 'echo "start $$$$" >> "$DIR/runs"; trap "echo \\"term $$$$\\" >> \\"$DIR/runs\\"; exit 0" TERM; sleep 600 & wait'
`);
    const tend = startManifest(file, { DIR: dir });
    await tend.waitStatus((d) => jobOf(d).runs.replaced >= 2, 'two replaced runs', 20_000);
    const runs = lines(`${dir}/runs`);
    // start A, term A, start B, term B, start C...: each run ended before the next began.
    const starts = runs.filter((l) => l.startsWith('start '));
    expect(starts.length).toBeGreaterThanOrEqual(3);
    for (let i = 0; i + 1 < starts.length; i++) {
      const pid = starts[i]!.split(' ')[1];
      expect(runs.indexOf(`term ${pid}`), runs.join(', ')).toBeGreaterThan(runs.indexOf(starts[i]!));
      expect(runs.indexOf(`term ${pid}`), runs.join(', ')).toBeLessThan(runs.indexOf(starts[i + 1]!));
    }
    const job = jobOf(await tend.status());
    expect(job.last_run?.result).toBe('replaced');
    expect(job.runs.skipped).toBe(0);
  });

  it('allow: runs overlap, each counted; status shows them running and lists both processes', async () => {
    const dir = tempDir('tend-jobs-');
    const file = writeManifest(dir, `
services:
  app: { main: true, command: ["sleep", "600"] }
  job:
    type: oneshot
    schedule: "* * * * * *"
    concurrency: allow
    command: ["sh", "-c", "sleep 2.5"]
`);
    const tend = startManifest(file, { DIR: dir });
    const doc = await tend.waitStatus((d) => jobOf(d).running >= 2, 'two runs at once');
    const job = jobOf(doc);
    expect(job.service.processes.length).toBeGreaterThanOrEqual(2);
    await tend.waitStatus((d) => jobOf(d).runs.success >= 2, 'two runs counted');
    expect(jobOf(await tend.status()).runs.skipped).toBe(0);
  });

  it('allow + timeout: each run past its timeout is stopped with what it forked, while later runs go on', async () => {
    const dir = tempDir('tend-jobs-');
    const file = writeManifest(dir, `
services:
  app: { main: true, command: ["sleep", "600"] }
  job:
    type: oneshot
    schedule: "* * * * * *"
    concurrency: allow
    timeout: 1500ms
    command: ["sh", "-c", "sleep 30 & wait"]
`);
    const tend = startManifest(file, { DIR: dir });
    const doc = await tend.waitStatus((d) => jobOf(d).runs.failure >= 3, 'three runs timed out', 20_000);
    const job = jobOf(doc);
    expect(job.last_run).toMatchObject({ result: 'failure', detail: 'timed out after 1.5s' });
    // At most two runs at once (1.5 s each, one due every second), each a shell and its sleep:
    // a timed-out run's sleep went with it (its process group), nothing piles up.
    expect(job.running).toBeLessThanOrEqual(2);
    expect(job.service.processes.length).toBeLessThanOrEqual(4);
    expect(job.runs.success).toBe(0);
  });

  it('timeout: a run still going is stopped and counts as failed; tend start JOB runs it now', async () => {
    const dir = tempDir('tend-jobs-');
    const file = writeManifest(dir, `
services:
  app: { main: true, command: ["sleep", "600"] }
  job:
    type: oneshot
    schedule: "0 0 1 1 *"
    time_zone: UTC
    timeout: 500ms
    command: 'echo "start $$$$" >> "$DIR/runs"; exec sleep 60'
`);
    const tend = startManifest(file, { DIR: dir });
    await tend.waitStatus((d) => d.services.find((s) => s.name === 'app')?.state === 'running', 'app running');
    expect(lines(`${dir}/runs`)).toEqual([]);
    const started = await tend.cli(['start', 'job']);
    expect(started.code).not.toBe(0);
    expect(started.stderr).toMatch(/job did not start: job is failed: timed out after 500ms/);
    const doc = await tend.waitStatus((d) => jobOf(d).runs.failure === 1, 'one failure');
    const job = jobOf(doc);
    expect(job.last_run).toMatchObject({ result: 'failure', detail: 'timed out after 500ms' });
    expect(job.service.state).toBe('failed');
    expect(job.service.processes).toEqual([]);
    expect(lines(`${dir}/runs`)).toHaveLength(1);
    expect(job.next_run).toBe(Date.UTC(new Date().getUTCFullYear() + 1, 0, 1));
  });

  it('time_zone moves the next run; status text, /status and /metrics (Prometheus text) agree', async () => {
    const dir = tempDir('tend-jobs-');
    const port = await freePort();
    const file = writeManifest(dir, `
settings:
  http: 127.0.0.1:${port}
services:
  app: { main: true, command: ["sleep", "600"] }
  utc:
    type: oneshot
    schedule: "0 12 * * *"
    time_zone: UTC
    command: ["true"]
  kiritimati:                  # UTC+14 all year: noon there is 22:00 UTC the day before
    type: oneshot
    schedule: "0 12 * * *"
    time_zone: Pacific/Kiritimati
    command: ["true"]
  job:
    type: oneshot
    schedule: "0 0 1 1 *"
    command: ["sh", "-c", "exit 0"]
`, 'tend.yaml');
    const tend = startManifest(file, { DIR: dir });
    await tend.waitStatus((d) => d.services.find((s) => s.name === 'app')?.state === 'running', 'app running');
    expect((await tend.cli(['start', 'job'])).code).toBe(0);
    const doc = await tend.status();
    const now = Date.now();
    const noonUtc = (() => {
      const d = new Date(now);
      const today = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), 12);
      return today > now ? today : today + 86_400_000;
    })();
    const kiritimati = (() => {
      const d = new Date(now);
      const candidate = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), 22) - 86_400_000;
      return [candidate, candidate + 86_400_000, candidate + 2 * 86_400_000].find((t) => t > now)!;
    })();
    expect(jobOf(doc, 'utc').next_run).toBe(noonUtc);
    expect(jobOf(doc, 'kiritimati').next_run).toBe(kiritimati);
    expect(jobOf(doc, 'kiritimati').time_zone).toBe('Pacific/Kiritimati');
    const job = jobOf(doc);
    expect(job.runs).toEqual({ success: 1, failure: 0, skipped: 0, replaced: 0 });
    expect(job.last_run).toMatchObject({ result: 'success', detail: 'exited with 0' });

    const text = (await tend.cli(['status'])).stdout;
    expect(text).toMatch(/^JOBS$/m);
    expect(text).toMatch(/^kiritimati\s+"0 12 \* \* \*" Pacific\/Kiritimati\s+-\s+\d{4}-\d\d-\d\d 12:00:00 \(in /m);
    expect(text).toMatch(/^job\s+"0 0 1 1 \*"\s+success \S+ ago \(exited with 0\)\s+\d{4}-01-01 00:00:00 \(in \S+\)\s+1 ok, 0 failed$/m);

    const status = await get(`http://127.0.0.1:${port}/status`);
    const served = JSON.parse(status.body) as StatusDocument;
    expect(jobOf(served).runs).toEqual(job.runs);
    expect(jobOf(served, 'kiritimati').next_run).toBe(kiritimati);

    const metrics = await get(`http://127.0.0.1:${port}/metrics`);
    const families = new Map<string, Family>(parsePrometheusTextFormat(metrics.body).map((f) => [f.name, f]));
    const value = (name: string, labels: Record<string, string>): number | undefined => {
      const found = families.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
      return found?.value === undefined ? undefined : Number(found.value);
    };
    expect(families.get('tend_job_runs_total')?.type).toBe('COUNTER');
    expect(families.get('tend_job_last_success_timestamp_seconds')?.type).toBe('GAUGE');
    for (const result of ['success', 'failure', 'skipped', 'replaced']) {
      expect(value('tend_job_runs_total', { service: 'job', result })).toBe(result === 'success' ? 1 : 0);
      expect(value('tend_job_runs_total', { service: 'utc', result })).toBe(0);
    }
    expect(value('tend_job_runs_total', { service: 'app', result: 'success' })).toBeUndefined(); // not a job
    expect(value('tend_job_last_success_timestamp_seconds', { service: 'job' })).toBeCloseTo(job.last_success! / 1000, 3);
    expect(value('tend_job_last_success_timestamp_seconds', { service: 'utc' })).toBeUndefined(); // never succeeded yet
    expect(value('tend_job_next_run_timestamp_seconds', { service: 'kiritimati' })).toBe(kiritimati / 1000);
  });

  it('a time zone not in the zone database is a located error, with a suggestion', () => {
    const dir = tempDir('tend-jobs-');
    const file = writeManifest(dir, `services:
  job:
    type: oneshot
    schedule: "0 3 * * *"
    time_zone: Europe/Pariss
    command: ["true"]
  app:
    command: ["true"]
    concurrency: allow
`);
    const result = runTendSync(['check', '-c', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${file}:5:16: services.job.time_zone: unknown time zone "Europe/Pariss" (not in the zone database); did you mean "Europe/Paris"?`);
    expect(result.stderr).toMatch(/tend\.yaml:9:18: services\.app\.concurrency: concurrency needs schedule/);
  });
});
