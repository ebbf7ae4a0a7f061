// Wires the log library to the supervisor: one asynchronous writer per fd shared by
// tend's own log and every service's output, a rotating file and an in-memory ring per
// service, and the pino logger. Created once in `tend run`.
import type { Plan, ServicePlan, LogLevel } from '../plan/types';
import { growOutputPipe, lineKernel, type Spawned } from '../process/spawn';
import { openConsole } from '../log/writer';
import { createLogger, type TendLog } from '../log/logger';
import { OutputRouter, type Drainable, type OutputSink } from '../log/output';
import { FACILITIES, formatSyslog, pinoLevel, SEVERITIES, streamOf, tagName, type SyslogMessage } from '../log/syslog';
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

/** One syslog datagram, parsed, and whether the receiver cut it (kept of sent bytes). */
export interface SyslogEntry {
  readonly message: SyslogMessage;
  readonly cut: { readonly kept: number; readonly sent: number } | null;
}

export interface ServiceLogs {
  readonly tend: TendLogger;
  /**
   * Syslog messages, attributed: a service's go where its output goes (console prefix,
   * log.file, `tend logs`), err and worse as its stderr; null's go to tend's own log as
   * `(syslog)`. A promise when a writer is backed up: send more once it settles.
   */
  syslog(service: ServicePlan | null, entries: readonly SyslogEntry[]): Promise<void> | null;
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
  // In text format, the native console reader (native/reader.c) writes the console and
  // reads the pipes of services whose output goes there (src/log/output.ts).
  const { stdout, stderr, native } = openConsole({ growPipe: growOutputPipe, native: plan.settings.logFormat === 'text' ? lineKernel() : null });
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
  const router = new OutputRouter({ format: plan.settings.logFormat, stdout, stderr, kernel: lineKernel, native });
  const rings = new Map<string, RingBuffer>();
  /** A sink per service, kept across restarts; rebuilt when a reload changes its log settings. */
  const sinks = new Map<string, { sink: OutputSink; key: string }>();

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

  const LEVELS = { 60: 'fatal', 50: 'error', 40: 'warn', 30: 'info', 20: 'debug' } as const;
  const tendSyslog = (entries: readonly SyslogEntry[]): void => {
    for (const { message, cut } of entries) {
      const level = LEVELS[pinoLevel(message.severity) as keyof typeof LEVELS];
      if (plan.settings.logFormat === 'json') {
        const fields = { service: '(syslog)', tag: tagName(message), facility: FACILITIES[message.facility], severity: SEVERITIES[message.severity] };
        const lines = message.lines;
        lines.forEach((line, i) => logger[level](fields, i === lines.length - 1 && cut !== null ? `${line} [cut: ${cut.kept} of ${cut.sent} bytes]` : line));
      } else {
        for (const line of formatSyslog(message, cut)) logger[level](`(syslog) ${line}`);
      }
    }
  };

  /** json mode's console records for a run of syslog messages: the tag and severity as fields. */
  const syslogRecords = (service: string, stream: 'stdout' | 'stderr', entries: readonly SyslogEntry[]): string => {
    const time = `{"time":"${new Date().toISOString()}","level":`;
    const tail = `,"service":${JSON.stringify(service)},"stream":"${stream}",`;
    let out = '';
    for (const { message, cut } of entries) {
      const fields = `${pinoLevel(message.severity)}${tail}"tag":${JSON.stringify(tagName(message))},"facility":"${FACILITIES[message.facility]}","severity":"${SEVERITIES[message.severity]}","msg":`;
      const lines = message.lines;
      for (let i = 0; i < lines.length; i++) {
        const line = i === lines.length - 1 && cut !== null ? `${lines[i]} [cut: ${cut.kept} of ${cut.sent} bytes]` : lines[i]!;
        out += `${time}${fields}${JSON.stringify(line)}}\n`;
      }
    }
    return out;
  };

  const serviceSyslog = (service: ServicePlan, entries: readonly SyslogEntry[]): Drainable[] => {
    const sink = sinkOf(service);
    const full: Drainable[] = [];
    // Runs of the same stream become one block: one write per run, not per message.
    for (let from = 0; from < entries.length;) {
      const stream = streamOf(entries[from]!.message.severity);
      let to = from + 1;
      while (to < entries.length && streamOf(entries[to]!.message.severity) === stream) to += 1;
      const run = entries.slice(from, to);
      let text = '';
      for (const { message, cut } of run) for (const line of formatSyslog(message, cut)) text += `${line}\n`;
      full.push(...router.routeLines(service.name, stream, Buffer.from(text), sink, () => syslogRecords(service.name, stream, run)));
      from = to;
    }
    return full;
  };

  return {
    tend,
    syslog(service, entries) {
      if (service === null) {
        tendSyslog(entries);
        return null;
      }
      const full = [...new Set(serviceSyslog(service, entries))];
      if (full.length === 0) return null;
      return Promise.all(full.map((target) => new Promise<void>((resolve) => target.once('drain', () => resolve())))).then(() => undefined);
    },
    attach(service, spawned, onLine) {
      if (service.log.console === 'inherit' && spawned.stdout === null) return;
      const sink = sinkOf(service);
      // Read on every chunk: the runner's callback feeds a `log` readiness probe.
      sink.onLine = service.ready?.check.kind === 'log' ? (line) => onLine(line) : undefined;
      // Followed without a promise or a closure per pipe: drain() waits for them all at once.
      if (spawned.stdout !== null) router.follow(service.name, 'stdout', spawned.stdout, sink);
      if (spawned.stderr !== null) router.follow(service.name, 'stderr', spawned.stderr, sink);
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
      if (router.following === 0) return;
      const ended = router.allEnded();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        ended,
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
