// Scheduled oneshots (`schedule:`), the crond of a migrated VM. croner parses the
// expression and keeps the timer; runs use the service's `time_zone`, else tend's own
// (TZ), and missed runs are not caught up. Whether a due run starts, is skipped, replaces
// or joins the one still going (`concurrency`) is the core's call; the loop arms and
// disarms the schedules.
import { Cron } from 'croner';
import { scheduled } from '../log/messages';

/** A schedule as the core asks for it. */
export interface ScheduleSpec {
  readonly expression: string;
  /** IANA zone name (validated with the manifest); null: tend's own. */
  readonly timeZone: string | null;
}

function cron(spec: ScheduleSpec, fire?: () => void): Cron {
  const options = { catch: true, ...(spec.timeZone === null ? {} : { timezone: spec.timeZone }), ...(fire === undefined ? { paused: true } : {}) };
  return fire === undefined ? new Cron(spec.expression, options) : new Cron(spec.expression, options, fire);
}

/**
 * When the schedule is next due after `from` (epoch ms), or null when it never is again.
 * Pure: `tend status` and the tests ask it with a time of their own.
 */
export function nextRunAfter(spec: ScheduleSpec, from: number): number | null {
  const next = cron(spec).nextRun(new Date(from));
  return next === null ? null : next.getTime();
}

export class Scheduler {
  constructor(private readonly log: { info(message: string): void }) {}

  /** Arms the schedule; `fire` at each due time. Returns the function that disarms it. */
  add(service: string, spec: ScheduleSpec, fire: () => void): () => void {
    const job = cron(spec, fire);
    const next = job.nextRun();
    if (next !== null) this.log.info(scheduled(service, spec.timeZone === null ? spec.expression : `${spec.expression}" in "${spec.timeZone}`, next));
    return () => job.stop();
  }
}
