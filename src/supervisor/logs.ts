// Wires the log library to the supervisor: one asynchronous writer per fd shared by
// tend's own log and every service's output, a rotating file and an in-memory ring per
// service, and the pino logger. Created once in `tend run`.
import type { Plan, ServicePlan, LogLevel } from '../plan/types';
import type { Spawned } from '../process/spawn';
import { openConsole } from '../log/writer';
import { createLogger, type TendLog } from '../log/logger';
import { OutputRouter, type OutputSink } from '../log/output';
import { RingBuffer } from '../log/ring';
import { serviceSink } from '../log';
import { consoleClosed, fileReport } from '../log/messages';
import type { LogLine } from '../log/line';
import type { Unsubscribe } from '../vocab/subscription';

export interface TendLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug(message: string): void;
}

export interface ServiceLogs {
  readonly tend: TendLogger;
  /** Routes a freshly spawned service's output; onLine sees each line (log readiness). */
  attach(service: ServicePlan, spawned: Spawned, onLine: (line: string) => void): void;
  recent(service: string, lines: number | null): LogLine[];
  follow(service: string, listener: (line: LogLine) => void): Unsubscribe;
  /** After a reload: new services, new names to pad to. */
  update(plan: Plan): void;
  setLevel(level: LogLevel): void;
  /** Waits until every attached pipe has reached end of file, or 100 ms after the last process is gone. */
  drain(timeoutMs?: number): Promise<void>;
  /** Waits (at most `timeoutMs`) until every sink has written what it holds; the bytes the console still holds then. */
  flush(timeoutMs?: number): Promise<number>;
}

export function createServiceLogs(plan: Plan): ServiceLogs {
  // One writer per fd; when 2>&1 (or docker -t) makes them the same file, one writer for
  // both, so lines never interleave mid-line.
  const { stdout, stderr } = openConsole();
  // tend's own events go to stderr, as tini's and dumb-init's do: stdout carries only
  // what the services print.
  const root: TendLog = createLogger({ format: plan.settings.logFormat, level: plan.settings.logLevel, writer: stderr, streamName: 'stderr' });
  const logger = root.logger;
  const tend: TendLogger = {
    info: (m) => logger.info(m),
    warn: (m) => logger.warn(m),
    error: (m) => logger.error(m),
    debug: (m) => logger.debug(m),
  };
  // A reader that went away (docker logs detached, a closed pipe) is said once; tend and
  // its services carry on, their output to that fd discarded.
  stdout.once('closed', (code: string) => tend.warn(consoleClosed('stdout', code)));
  if (stderr !== stdout) stderr.once('closed', (code: string) => tend.warn(consoleClosed('stderr', code)));
  const router = new OutputRouter({ format: plan.settings.logFormat, stdout, stderr });
  const rings = new Map<string, RingBuffer>();
  /** A sink per service, kept across restarts; rebuilt when a reload changes its log settings. */
  const sinks = new Map<string, { sink: OutputSink; key: string }>();
  const open = new Set<Promise<void>>();

  const ringOf = (service: string): RingBuffer => {
    let ring = rings.get(service);
    if (ring === undefined) {
      ring = new RingBuffer();
      rings.set(service, ring);
    }
    return ring;
  };

  const sinkOf = (service: ServicePlan): OutputSink => {
    const key = JSON.stringify(service.log);
    const existing = sinks.get(service.name);
    if (existing !== undefined && existing.key === key) return existing.sink;
    void existing?.sink.file?.flush(1000);
    void existing?.sink.stderrFile?.flush(1000);
    const sink = serviceSink(service.log, (report) => {
      const { level, msg } = fileReport(service.name, report);
      tend[level](msg);
    }, ringOf(service.name));
    sinks.set(service.name, { sink, key });
    return sink;
  };

  const update = (next: Plan): void => router.setServiceNames(next.services.map((s) => s.name));
  update(plan);

  return {
    tend,
    attach(service, spawned, onLine) {
      if (service.log.console === 'inherit' && spawned.stdout === null) return;
      const sink = sinkOf(service);
      // Read on every chunk: the runner's callback feeds a `log` readiness probe.
      sink.onLine = service.ready?.check.kind === 'log' ? (line) => onLine(line) : undefined;
      for (const [name, stream] of [['stdout', spawned.stdout], ['stderr', spawned.stderr]] as const) {
        if (stream === null) continue;
        const done = router.attach(service.name, name, stream, sink);
        open.add(done);
        void done.then(() => open.delete(done));
      }
    },
    recent(service, lines) {
      return ringOf(service).last(lines ?? Infinity).map((l) => ({ service, stream: l.stream, time: l.time, line: l.text }));
    },
    follow(service, listener) {
      return ringOf(service).subscribe((l) => listener({ service, stream: l.stream, time: l.time, line: l.text }));
    },
    update,
    setLevel(level) {
      root.setLevel(level);
    },
    async drain(timeoutMs = 100) {
      // A daemon that inherited a service's pipe may hold it open forever: the pipes
      // drain until end of file, or `timeoutMs` after the last process is gone.
      if (open.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...open]),
        new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs); }),
      ]);
      clearTimeout(timer);
    },
    async flush(timeoutMs = 2000) {
      await Promise.all([...sinks.values()].flatMap(({ sink }) => [sink.file?.flush(timeoutMs), sink.stderrFile?.flush(timeoutMs)]));
      await root.flush(timeoutMs);
      await Promise.race([
        Promise.all([stdout.flush(timeoutMs), stderr.flush(timeoutMs)]),
        new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
      ]);
      return stdout.queued + (stderr === stdout ? 0 : stderr.queued);
    },
  };
}
