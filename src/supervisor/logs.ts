// Wires the log library to the supervisor: one asynchronous writer per fd shared by
// tend's own log and every service's output, a rotating file and an in-memory ring per
// service, and the pino logger. Created once in `tend run`.
import type { Plan, ServicePlan, LogLevel } from '../plan/types';
import type { Spawned } from '../process/spawn';
import { AsyncWriter } from '../log/writer';
import { createLogger, type TendLog } from '../log/logger';
import { OutputRouter, type OutputSink } from '../log/output';
import { RotatingFile, type FileSinkReport } from '../log/filesink';
import { RingBuffer } from '../log/ring';
import * as messages from '../log/messages';
import type { LogLine, Unsubscribe } from '../control/api';

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
  flush(timeoutMs?: number): Promise<void>;
}

function reportFile(service: string, log: TendLogger): (report: FileSinkReport) => void {
  return (report) => {
    switch (report.kind) {
      case 'failed':
        log.error(messages.logFileFailed(service, report.path, `${report.code}: ${report.message}`));
        return;
      case 'symlink':
        log.error(messages.logFileSymlink(service, report.path));
        return;
      case 'resumed':
        log.warn(messages.logFileResumed(service, report.path, report.droppedLines));
        return;
      case 'rotate-failed':
        log.warn(messages.logFileRotateFailed(service, report.path, `${report.code}: ${report.message}`));
        return;
      case 'compress-failed':
        log.warn(messages.logFileCompressFailed(service, report.path, `${report.code}: ${report.message}`));
        return;
    }
  };
}

export function createServiceLogs(plan: Plan): ServiceLogs {
  const stdout = new AsyncWriter(1);
  const stderr = new AsyncWriter(2);
  // tend's own records go to stderr as docker's and tini's do? No: SPEC §5 keeps tend's
  // events on stdout with the services' stdout, so `docker logs` interleaves them in order.
  const root: TendLog = createLogger({ format: plan.settings.logFormat, level: plan.settings.logLevel, writer: stdout, streamName: 'stdout' });
  const logger = root.logger;
  const tend: TendLogger = {
    info: (m) => logger.info(m),
    warn: (m) => logger.warn(m),
    error: (m) => logger.error(m),
    debug: (m) => logger.debug(m),
  };
  const router = new OutputRouter({ format: plan.settings.logFormat, stdout, stderr });
  const rings = new Map<string, RingBuffer>();
  const files = new Map<string, { file: RotatingFile; key: string }>();
  const open = new Set<Promise<void>>();

  const ringOf = (service: string): RingBuffer => {
    let ring = rings.get(service);
    if (ring === undefined) {
      ring = new RingBuffer();
      rings.set(service, ring);
    }
    return ring;
  };

  const fileOf = (service: ServicePlan): RotatingFile | null => {
    const { file: path, maxSize, keep, compress } = service.log;
    if (path === null) return null;
    const key = JSON.stringify([path, maxSize, keep, compress]);
    const existing = files.get(service.name);
    if (existing !== undefined && existing.key === key) return existing.file;
    // A reload changed the file settings: later lines go to the new file.
    void existing?.file.flush(1000);
    const file = new RotatingFile(path, { maxSize, keep, compress, onReport: reportFile(service.name, tend) });
    files.set(service.name, { file, key });
    return file;
  };

  const update = (next: Plan): void => router.setServiceNames(next.services.map((s) => s.name));
  update(plan);

  return {
    tend,
    attach(service, spawned, onLine) {
      if (service.log.console === 'inherit' && spawned.stdout === null) return;
      const sink: OutputSink = { console: service.log.console, file: fileOf(service), ring: ringOf(service.name), onLine: (line) => onLine(line) };
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
      await Promise.all([...files.values()].map(({ file }) => file.flush(timeoutMs)));
      await root.flush(timeoutMs);
      await Promise.race([
        Promise.all([stdout.flush?.(), stderr.flush?.()]),
        new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
      ]);
    },
  };
}
