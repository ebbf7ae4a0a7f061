// Scheduled oneshots (`schedule:`), the crond of a migrated VM. croner parses the
// expression and keeps the timer; runs use tend's time zone (TZ) and missed runs are
// not caught up. Whether a run may start (overlap) is the supervisor's call.
import { Cron } from 'croner';
import { scheduled } from '../log/messages';

export class Scheduler {
  private readonly jobs = new Map<string, Cron>();

  constructor(
    private readonly fire: (service: string) => void,
    private readonly log: { info(message: string): void },
  ) {}

  add(service: string, expression: string): void {
    this.remove(service);
    const job = new Cron(expression, { catch: true }, () => this.fire(service));
    this.jobs.set(service, job);
    const next = job.nextRun();
    if (next !== null) this.log.info(scheduled(service, expression, next));
  }

  remove(service: string): void {
    this.jobs.get(service)?.stop();
    this.jobs.delete(service);
  }

  /** Whether any schedule is armed: with no main, tend keeps running for it. */
  active(): boolean {
    return this.jobs.size > 0;
  }

  stopAll(): void {
    for (const job of this.jobs.values()) job.stop();
    this.jobs.clear();
  }
}
