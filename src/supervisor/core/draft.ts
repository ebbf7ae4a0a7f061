// One step's working copy of the core's state, and the only moves that write it: a record
// replaced (`update`), a service entering a state (`enter`: the transition table decides,
// and a run that ends into a post_stop waits in `finishing` while its hook runs), the
// phase set, an effect or a change recorded. Every concern's module works on a Draft; none
// keeps state of its own. `step()` (../core.ts) makes one per event and reads its result.
import type { Plan, ServicePlan } from '../../plan/types';
import * as say from '../../log/messages';
import type { TimerName } from '../events';
import {
  canTransition, isUp, pidOf, stateName,
  type AfterRun, type ServiceState,
} from '../state';
import { NO_HISTORY } from '../restart';
import { Records } from '../records';
import { exitVariables } from './exit-status';
import {
  reasonOf,
  type Change, type CoreState, type Effect, type LogLevel, type Phase, type Reply, type Seen, type ServiceRecord, type StepResult, type Tally,
} from './types';

export function freshRecord(plan: ServicePlan): ServiceRecord {
  return { plan, state: { id: 'stopped', byHand: false }, restarts: 0, lastExit: null, history: NO_HISTORY, health: null, startedAt: null, removed: false };
}

/** One step's working copy: records are replaced, never mutated; effects collect in order. */
export class Draft {
  plan: Plan;
  readonly services: Records<ServiceRecord>;
  phase: Phase;
  readonly schedules: Set<string>;
  readonly startSlots: number;
  /** Kept by every write of a record here (`write`, `forget`). */
  tally: Tally;
  readonly effects: Effect[] = [];
  readonly changes: Change[] = [];
  reply: Reply = { kind: 'none' };
  /** Bumped by every change of a record or of the phase: settle runs until it stays put. */
  revision = 0;
  readonly now: number;

  constructor(core: CoreState, readonly seen: Seen) {
    this.plan = core.plan;
    this.services = Records.draft(core.services);
    this.phase = core.phase;
    this.schedules = new Set(core.schedules);
    this.startSlots = core.startSlots;
    this.tally = core.tally;
    this.now = seen.now;
  }

  result(): StepResult {
    return {
      core: { plan: this.plan, services: this.services.done(), phase: this.phase, schedules: this.schedules, startSlots: this.startSlots, tally: this.tally },
      effects: this.effects,
      changes: this.changes,
      reply: this.reply,
    };
  }

  // ---- small helpers -----------------------------------------------------------------

  emit(effect: Effect): void {
    this.effects.push(effect);
  }

  log(level: LogLevel, message: string): void {
    this.effects.push({ kind: 'log', level, message });
  }

  arm(timer: TimerName, service: string | null, ms: number): void {
    this.effects.push({ kind: 'arm', timer, service, ms: Math.max(0, ms) });
  }

  cancel(timer: TimerName, service: string | null): void {
    this.effects.push({ kind: 'cancel', timer, service });
  }

  get shuttingDown(): boolean {
    return this.phase.id === 'shutting-down' || this.phase.id === 'done';
  }

  record(name: string): ServiceRecord | undefined {
    return this.services.get(name);
  }

  update(name: string, change: Partial<ServiceRecord>): ServiceRecord {
    const previous = this.services.get(name)!;
    const next = { ...previous, ...change };
    this.write(name, previous, next);
    this.noteHealth(name, previous, next);
    return next;
  }

  private noteHealth(name: string, previous: ServiceRecord, next: ServiceRecord): void {
    const before = previous.health?.status ?? null;
    const after = next.health?.status ?? null;
    if (before !== after && stateName(previous.state) === stateName(next.state)) this.changes.push({ type: 'health', service: name, health: after });
  }

  setPhase(phase: Phase): void {
    const before = this.phase.id;
    this.phase = phase;
    this.revision += 1;
    if (phase.id !== before && phase.id !== 'idle') this.changes.push({ type: 'phase', phase: phase.id });
  }

  /**
   * The only way a service changes state: the table decides. A refused transition is a
   * bug in tend; it is logged and the service keeps its state.
   */
  enter(name: string, next: ServiceState, change: Partial<Omit<ServiceRecord, 'state'>> = {}): boolean {
    const record = this.services.get(name)!;
    if (!canTransition(record.state.id, next.id)) {
      this.log('error', say.illegalTransition(name, record.state.id, next.id));
      return false;
    }
    if (this.endsRun(record, next)) {
      this.finish(name, record, next as AfterRun, change);
      return true;
    }
    // Health is a property of a run that is up: it goes when the run does.
    const health = isUp(next) ? (change.health !== undefined ? change.health : record.health) : null;
    const updated = { ...record, ...change, health, state: next };
    this.write(name, record, updated);
    const from = stateName(record.state);
    const to = stateName(next);
    if (from !== to) this.changes.push({ type: 'state', service: name, from, to, pid: pidOf(next), reason: reasonOf(next) });
    else this.noteHealth(name, record, updated);
    return true;
  }

  owns(name: string): boolean {
    return this.seen.owned(name).length > 0;
  }

  /**
   * A run ends (its own process exited, could not start, or was stopped; or its pre_start
   * failed) into a service that has a post_stop: that runs first, with the run's end in
   * EXIT_CODE and EXIT_STATUS, and the state the end decided waits in `finishing`. A stop of
   * what an ended run left behind is no run's end: its post_stop ran when the run ended.
   */
  private endsRun(record: ServiceRecord, next: ServiceState): boolean {
    if (record.plan.postStop == null) return false;
    switch (next.id) {
      case 'backoff':
      case 'exited':
      case 'fatal':
      case 'completed':
      case 'failed':
      case 'stopped':
      case 'queued':
        break;
      default:
        return false;
    }
    const from = record.state;
    switch (from.id) {
      case 'preparing':
      case 'starting':
      case 'running':
      case 'ready':
        return true;
      case 'spawning':
        return next.id !== 'stopped' || from.pid !== null;
      case 'stopping':
        return from.ofRun === true;
      default:
        return false;
    }
  }

  private finish(name: string, record: ServiceRecord, then: AfterRun, change: Partial<Omit<ServiceRecord, 'state'>>): void {
    const next: ServiceState = { id: 'finishing', since: this.now, then };
    const updated = { ...record, ...change, health: null, state: next };
    this.write(name, record, updated);
    const from = stateName(record.state);
    if (from !== 'stopping') this.changes.push({ type: 'state', service: name, from, to: 'stopping', pid: null, reason: null });
    const exit = updated.lastExit;
    this.emit({ kind: 'spawn-hook', service: name, hook: 'post_stop', plan: record.plan, env: exit === null ? {} : exitVariables(exit) });
    this.arm('hook', name, record.plan.stopTimeout);
  }

  /** A service a reload removed has stopped: it is no longer supervised. */
  forget(name: string): void {
    const record = this.services.get(name);
    this.emit({ kind: 'release', service: name });
    this.services.delete(name);
    if (record !== undefined) this.retally(record, -1);
  }

  /** A record replaced: the only write of an existing record, so the tally stays true. */
  private write(name: string, previous: ServiceRecord, next: ServiceRecord): void {
    this.services.set(name, next);
    this.revision += 1;
    if (previous.state.id !== next.state.id || previous.plan !== next.plan) {
      this.retally(previous, -1);
      this.retally(next, 1);
    }
  }

  private retally(record: ServiceRecord, by: 1 | -1): void {
    const t = this.tally;
    switch (record.state.id) {
      case 'spawning':
        this.tally = { ...t, spawning: t.spawning + by };
        return;
      case 'queued':
        this.tally = { ...t, queued: t.queued + by, waiting: t.waiting + (record.plan.dependsOn.length > 0 ? by : 0) };
        return;
      case 'exited':
      case 'fatal':
      case 'failed':
        this.tally = { ...t, down: t.down + by };
        return;
      default:
    }
  }
}
