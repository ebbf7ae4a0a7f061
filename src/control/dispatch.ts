// A validated request → the handler call → the reply. Access and limits were checked by
// the connection; what is left here is translating arguments (signal names, defaults,
// the `wait` deadline) and turning the handler's Results into reply lines.
import { signalNumber } from '../vocab/signals';
import type { CallContext, ControlHandler, ErrorCode, LogLine, Result, Unsubscribe } from './api';
import { PROTOCOL_VERSION, type Reply, type Request, type RequestId } from './protocol';
import { duration } from '../vocab/format';

export type Dispatched =
  /** `watchExit`: shutdown --wait; keep the connection open, not idle, until tend exits. */
  | { readonly kind: 'reply'; readonly reply: Reply; readonly watchExit?: boolean }
  /**
   * A following command. The connection calls `open` synchronously and writes its reply
   * at once: the backlog and the subscription then happen in one tick, so no line is
   * lost or sent twice between them.
   */
  | { readonly kind: 'stream'; readonly open: (emit: (event: unknown) => void) => { readonly reply: Reply; readonly unsubscribe: Unsubscribe | null } };

export interface DispatchContext extends CallContext {
  readonly handler: ControlHandler;
  readonly version: string;
  /** A `logs` reply is cut to the newest lines whose JSON fits in this. */
  readonly maxReplyBytes?: number;
}

/**
 * The newest lines whose encoded size fits `budget`, and how many older ones were left
 * out. The ring holds at most 1 MiB of output, but JSON escapes a control byte as six
 * (`\u0001`): a reply could be ~6 MiB, and 64 peers that never read them held ~500 MB
 * of tend's memory.
 */
function fitLines(lines: readonly LogLine[], budget: number | undefined): { lines: readonly LogLine[]; truncated: number } {
  if (budget === undefined) return { lines, truncated: 0 };
  let used = 64; // the reply's own framing
  let first = lines.length;
  while (first > 0) {
    const size = JSON.stringify(lines[first - 1]).length + 1;
    if (used + size > budget) break;
    used += size;
    first -= 1;
  }
  return { lines: first === 0 ? lines : lines.slice(first), truncated: first };
}

function logsResult(lines: readonly LogLine[], budget: number | undefined): { lines: readonly LogLine[]; truncated?: number } {
  const fitted = fitLines(lines, budget);
  return fitted.truncated === 0 ? { lines: fitted.lines } : { lines: fitted.lines, truncated: fitted.truncated };
}

export function replyOk(id: RequestId | null, result: unknown): Reply {
  return { id, ok: true, result };
}

export function replyError(id: RequestId | null, code: ErrorCode, message: string, problems?: readonly string[]): Reply {
  return { id, ok: false, error: problems === undefined ? { code, message } : { code, message, problems } };
}

function fromResult<T>(id: RequestId, result: Result<T>, map: (value: T) => unknown = (v) => v): Reply {
  return result.ok ? replyOk(id, map(result.value)) : replyError(id, result.reason, result.message, result.problems);
}

function reply(value: Reply, watchExit = false): Dispatched {
  return { kind: 'reply', reply: value, watchExit };
}

async function waitWithDeadline(request: Extract<Request, { cmd: 'wait' }>, context: DispatchContext): Promise<Reply> {
  const { id, args } = request;
  const until = args.until ?? 'running';
  const timeout = args.timeout_ms ?? null;
  // Our own controller: aborted by the deadline, and by the client going away.
  const controller = new AbortController();
  const forward = (): void => controller.abort();
  context.signal.addEventListener('abort', forward, { once: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    const deadline = timeout === null ? null : new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeout);
    });
    // The client going away ends the wait here even if the handler never resolves.
    const gone = new Promise<'gone'>((resolve) => controller.signal.addEventListener('abort', () => resolve('gone'), { once: true }));
    const waiting = context.handler.wait(args.name, until, { caller: context.caller, signal: controller.signal });
    const outcome = await Promise.race(deadline === null ? [waiting, gone] : [waiting, deadline, gone]);
    if (outcome === 'gone') return replyError(id, 'failed', `${args.name}: the client went away`);
    if (outcome !== 'timeout') return fromResult(id, outcome);
    controller.abort();
    const now = context.handler.status([args.name]);
    const state = now.ok ? now.value.services[0]?.state : undefined;
    return replyError(id, 'timeout', `${args.name}: not ${until} after ${duration(timeout ?? 0)}${state === undefined ? '' : ` (state: ${state})`}`);
  } finally {
    clearTimeout(timer);
    context.signal.removeEventListener('abort', forward);
    controller.abort(); // release the handler's listeners whatever happened
  }
}

export async function dispatch(request: Request, context: DispatchContext): Promise<Dispatched> {
  const { handler } = context;
  const call: CallContext = { caller: context.caller, signal: context.signal };
  switch (request.cmd) {
    case 'status':
      return reply(fromResult(request.id, handler.status(request.args.names ?? [], { detail: request.args.detail === true })));
    case 'health':
      return reply(replyOk(request.id, handler.health()));
    case 'start':
    case 'stop':
    case 'restart': {
      const { names, wait } = request.args;
      const result = await handler[request.cmd](names, { wait: wait ?? true }, call);
      return reply(fromResult(request.id, result));
    }
    case 'signal': {
      const { name, signal, main } = request.args;
      const number = signalNumber(signal);
      if (number === null) return reply(replyError(request.id, 'bad_request', `unknown signal "${signal}" (write TERM, SIGTERM or 15)`));
      return reply(fromResult(request.id, handler.signal(name, number, { mainOnly: main ?? false }, call)));
    }
    case 'wait':
      return reply(await waitWithDeadline(request, context));
    case 'logs': {
      const { id, args } = request;
      if (args.follow !== true) return reply(fromResult(id, handler.logs(args.name, args.lines ?? null), (lines) => logsResult(lines, context.maxReplyBytes)));
      return {
        kind: 'stream',
        open: (emit) => {
          const backlog = handler.logs(args.name, args.lines ?? null);
          if (!backlog.ok) return { reply: fromResult(id, backlog), unsubscribe: null };
          const following = handler.followLogs(args.name, emit);
          if (!following.ok) return { reply: fromResult(id, following), unsubscribe: null };
          return { reply: replyOk(id, logsResult(backlog.value, context.maxReplyBytes)), unsubscribe: following.value };
        },
      };
    }
    case 'reload':
      return reply(fromResult(request.id, await handler.reload(call)));
    case 'shutdown': {
      const result = handler.shutdown(call);
      return reply(fromResult(request.id, result), result.ok && request.args.wait === true);
    }
    case 'version':
      return reply(replyOk(request.id, { tend: context.version, protocol: PROTOCOL_VERSION, pid: process.pid }));
    case 'exec-plan': {
      if (handler.execPlan === undefined) return reply(replyError(request.id, 'failed', 'tend exec needs services from a manifest; this tend runs a single command (tini mode)'));
      return reply(fromResult(request.id, await handler.execPlan(request.args.name, call)));
    }
    case 'events': {
      const { id } = request;
      return {
        kind: 'stream',
        open: (emit) => ({ reply: replyOk(id, {}), unsubscribe: handler.subscribe(emit) }),
      };
    }
    default:
      return unreachable(request);
  }
}

function unreachable(value: never): never {
  throw new Error(`unhandled request ${JSON.stringify(value)}`);
}
