// Scheduled oneshots (`schedule:`), the crond of a migrated VM. croner parses the
// expression and keeps the timer; runs use tend's time zone (TZ) and missed runs are
// not caught up. Whether a run may start (overlap) is the core's call; the loop
// arms and disarms the schedules.
import { Cron } from 'croner';
import { scheduled } from '../log/messages';

export class Scheduler {
  constructor(private readonly log: { info(message: string): void }) {}

  /** Arms the schedule; `fire` at each due time. Returns the function that disarms it. */
  add(service: string, expression: string, fire: () => void): () => void {
    const job = new Cron(expression, { catch: true }, fire);
    const next = job.nextRun();
    if (next !== null) this.log.info(scheduled(service, expression, next));
    return () => job.stop();
  }
}
