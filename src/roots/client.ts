// Client commands: `tend status`, `tend stop web`... Find the socket, send one request,
// print the answer. Exit 0 on success; otherwise one line on stderr and a non-zero code
// (2 for a request the server calls malformed, 1 for everything else) — except `reload`,
// which lists every problem of a broken manifest.
import { parse as parseYaml } from 'yaml';
import type { ClientCommand } from '../cli/args';
import type { LogLine, TendEvent } from '../control/api';
import { connectControl, unreachableMessage, type ClientFailure, type ControlClient } from '../control/client';
import { clientSocketCandidates, firstExistingSocket, manifestSocket, type SocketChoice } from '../control/socketpath';
import { interpolate } from '../config/interpolate';
import { parseDuration, DURATION_HINT } from '../config/units';
import { formatEvent, formatOutcome, formatReload, formatStatus } from '../cli/format';
import { EXIT_USAGE } from '../vocab/exit';

export interface ClientIO {
  out(text: string): void;
  err(text: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly uid: number;
}

/** Commands that answer at once get this long; waiting ones (start, wait...) as long as they take. */
const QUICK_REPLY_MS = 30_000;

const EXIT_FAILED = 1;

export async function runClient(command: ClientCommand, socket: string | null): Promise<number> {
  return runClientWith(command, socket, {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    env: process.env,
    uid: process.getuid?.() ?? 0,
  });
}

/** The socket a client command uses: --socket, TEND_SOCKET, the manifest's, or the first that exists of the defaults. */
export function chooseSocket(flag: string | null, io: Pick<ClientIO, 'env' | 'uid'>): { ok: true; choice: SocketChoice } | { ok: false; message: string } {
  const explicit = (flag !== null && flag !== '') || (io.env.TEND_SOCKET ?? '') !== '';
  const settings = explicit
    ? null
    : manifestSocket(io.env, (text) => parseYaml(text), (text) => {
        const expanded = interpolate(text, io.env);
        return expanded.ok ? expanded.value : null;
      });
  const candidates = clientSocketCandidates({ flag, env: io.env, uid: io.uid, settings });
  if (candidates.length === 1) return { ok: true, choice: candidates[0]! };
  const found = firstExistingSocket(candidates);
  return found === null ? { ok: false, message: unreachableMessage(candidates, 'ENOENT') } : { ok: true, choice: found };
}

export async function runClientWith(command: ClientCommand, socket: string | null, io: ClientIO): Promise<number> {
  // Checked before connecting: a usage mistake should not depend on tend running.
  let timeoutMs: number | null = null;
  if (command.cmd === 'wait' && command.timeout !== null) {
    timeoutMs = parseDuration(command.timeout);
    if (timeoutMs === null) {
      io.err(`tend: wait: --timeout expects ${DURATION_HINT}, got "${command.timeout}"\n`);
      return EXIT_USAGE;
    }
  }
  const chosen = chooseSocket(socket, io);
  if (!chosen.ok) {
    io.err(`tend: ${chosen.message}\n`);
    return EXIT_FAILED;
  }
  const connected = await connectControl(chosen.choice, { uid: io.uid });
  if (!connected.ok) return failed(io, connected);
  const client = connected.value;
  try {
    return await execute(command, client, io, timeoutMs);
  } finally {
    client.close();
  }
}

/** What the server sends a follower that fell behind, once it has caught up. */
interface Skipped {
  readonly skipped: number;
}

function isSkipped(event: unknown): event is Skipped {
  return typeof event === 'object' && event !== null && typeof (event as { skipped?: unknown }).skipped === 'number';
}

/**
 * A follower's end: tend exiting closes it with nothing said (exit 0); tend dropping it
 * (a slow reader, an eviction) says why, and that is a failure.
 */
async function ended(client: ControlClient, io: ClientIO): Promise<number> {
  await client.closed;
  const reason = client.closeReason();
  return reason === null ? 0 : failed(io, reason);
}

function failed(io: ClientIO, failure: ClientFailure): number {
  io.err(`tend: ${failure.message}\n`);
  for (const problem of failure.problems ?? []) io.err(`  ${problem}\n`);
  return failure.code === 'bad_request' ? EXIT_USAGE : EXIT_FAILED;
}

/**
 * Events can arrive in the same read as the reply that precedes them, before the code
 * awaiting the reply has printed it: hold them until the reply is out.
 */
function gate<T>(print: (event: T) => void): { onEvent: (event: unknown) => void; open: () => void } {
  let held: unknown[] | null = [];
  return {
    onEvent: (event) => {
      if (held !== null) held.push(event);
      else print(event as T);
    },
    open: () => {
      const queued = held ?? [];
      held = null;
      for (const event of queued) print(event as T);
    },
  };
}

async function execute(command: ClientCommand, client: ControlClient, io: ClientIO, timeoutMs: number | null): Promise<number> {
  const quick = { timeoutMs: QUICK_REPLY_MS };
  switch (command.cmd) {
    case 'status': {
      const reply = await client.request('status', { names: [...command.names], detail: true }, quick);
      if (!reply.ok) return failed(io, reply);
      io.out(command.json ? `${JSON.stringify(reply.value, null, 2)}\n` : formatStatus(reply.value, command.verbose));
      return 0;
    }
    case 'health': {
      const reply = await client.request('health', {}, quick);
      if (!reply.ok) return failed(io, reply);
      if (reply.value.healthy) {
        io.out(`healthy: ${reply.value.reason}\n`);
        return 0;
      }
      io.err(`tend: unhealthy: ${reply.value.reason}\n`);
      return EXIT_FAILED;
    }
    case 'start':
    case 'stop':
    case 'restart': {
      const reply = await client.request(command.cmd, { names: [...command.names], wait: command.wait }, command.wait ? {} : quick);
      if (!reply.ok) return failed(io, reply);
      for (const outcome of reply.value.services) io.out(`${formatOutcome(outcome)}\n`);
      return 0;
    }
    case 'signal': {
      const reply = await client.request('signal', { name: command.name, signal: command.signal, main: command.mainOnly }, quick);
      if (!reply.ok) return failed(io, reply);
      const { name, signal, pids } = reply.value;
      if (pids.length === 0) {
        io.err(`tend: ${name} has no process to send ${signal} to\n`);
        return EXIT_FAILED;
      }
      io.out(`${name}: ${signal} sent to ${pids.length === 1 ? 'pid' : `${pids.length} processes:`} ${pids.join(' ')}\n`);
      return 0;
    }
    case 'wait': {
      const reply = await client.request('wait', { name: command.name, until: command.until, timeout_ms: timeoutMs });
      return reply.ok ? 0 : failed(io, reply);
    }
    case 'logs': {
      const printLine = (line: LogLine | Skipped): void => {
        if (isSkipped(line)) io.err(`tend: ${line.skipped} ${line.skipped === 1 ? 'line' : 'lines'} of ${command.name} skipped: this client read them slower than they came\n`);
        else (line.stream === 'stderr' ? io.err : io.out)(`${line.line}\n`);
      };
      const events = gate(printLine);
      const reply = await client.request('logs', { name: command.name, lines: command.lines, follow: command.follow }, command.follow ? { onEvent: events.onEvent } : quick);
      if (!reply.ok) return failed(io, reply);
      const truncated = (reply.value as { truncated?: number }).truncated;
      if (typeof truncated === 'number' && truncated > 0) io.err(`tend: ${truncated} older ${truncated === 1 ? 'line' : 'lines'} left out: the reply is capped at 1 MiB\n`);
      for (const line of reply.value.lines) printLine(line);
      events.open();
      if (command.follow) return ended(client, io); // until tend exits, or Ctrl-C
      return 0;
    }
    case 'events': {
      const events = gate((event: TendEvent | Skipped) => {
        if (isSkipped(event)) io.err(`tend: ${event.skipped} ${event.skipped === 1 ? 'event' : 'events'} skipped: this client read them slower than they came\n`);
        else io.out(`${command.json ? JSON.stringify(event) : formatEvent(event)}\n`);
      });
      const reply = await client.request('events', {}, { onEvent: events.onEvent });
      if (!reply.ok) return failed(io, reply);
      events.open();
      return ended(client, io);
    }
    case 'reload': {
      const reply = await client.request('reload', {}, quick);
      if (!reply.ok) return failed(io, reply);
      io.out(formatReload(reply.value));
      return 0;
    }
    case 'shutdown': {
      const reply = await client.request('shutdown', { wait: command.wait }, quick);
      if (!reply.ok) return failed(io, reply);
      io.out(reply.value.already ? 'tend is already shutting down\n' : 'tend is shutting down\n');
      // The server keeps this connection open until tend exits.
      if (command.wait) await client.closed;
      return 0;
    }
  }
}
