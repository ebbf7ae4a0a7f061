// The log subsystem's surface, and the one helper that turns a service's LogPlan into
// the sinks its output goes to. See each module for the why.
import type { LogPlan } from '../plan/types';
import { RotatingFile, type FileSinkReport } from './filesink';
import type { OutputSink } from './output';
import { RingBuffer } from './ring';

export { AsyncWriter, DEFAULT_HIGH_WATER_MARK, openConsole, type AsyncWriterOptions, type WriterKind } from './writer';
export { createLogger, type CreateLoggerOptions, type TendLog } from './logger';
export { LineSplitter, MAX_LINE } from './lines';
export { OutputRouter, type OutputRouterOptions, type OutputSink } from './output';
export { RotatingFile, type FileSinkReport, type RotatingFileOptions } from './filesink';
export { RingBuffer, type RingLine, type RingListener, type StreamName } from './ring';
export * as messages from './messages';

/**
 * The sinks for one service: its files (when the plan names them) and its ring. Make them
 * once per service and keep them across restarts, so `tend logs` shows the previous run
 * and the file stays open; close() the file when the service is removed.
 */
export function serviceSink(log: LogPlan, onReport: (report: FileSinkReport) => void, ring = new RingBuffer()): OutputSink {
  const rotating = (path: string | null) => (path === null ? null : new RotatingFile(path, { maxSize: log.maxSize, keep: log.keep, compress: log.compress, onReport }));
  return { console: log.console, file: rotating(log.file), stderrFile: rotating(log.stderrFile), ring };
}
