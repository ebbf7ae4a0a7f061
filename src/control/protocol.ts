// The control protocol: one JSON object per line, both ways.
//   request  {"id":1,"cmd":"status","args":{"names":["web"]}}
//   reply    {"id":1,"ok":true,"result":{...}}
//            {"id":1,"ok":false,"error":{"code":"unknown_service","message":"..."}}
//   event    {"id":1,"event":{...}}   after the reply to `logs` with follow and `events`,
//                                     until the client closes
// A reply to something that had no usable id (bad JSON, a refused peer) carries id null.
// Requests are parsed here with zod, once; the server and handler then trust them.
import * as z from 'zod';
import {
  ERROR_CODES,
  type ActionResult, type ErrorCode, type HealthDocument, type LogLine, type ReloadSummary,
  type ExecPlan, type ShutdownResult, type SignalResult, type StatusDocument, type TendEvent, type VersionInfo, type WaitResult,
} from './api';

/** Bumped on any incompatible change; `version` returns it. */
export const PROTOCOL_VERSION = 1;

/** A request line longer than this (bytes, without the newline) is refused and the connection closed. */
export const MAX_LINE_BYTES = 64 * 1024;

// ---------------------------------------------------------------------------------------
// requests

// The schemas are built on the first request, not at load: constructing zod schemas costs
// milliseconds that tend's start-up (exec → main) should not pay for a socket no one
// has used yet.
function buildRequestSchemas() {
  const id = z.union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().max(128)]);
  const name = z.string().min(1).max(256);
  const names = z.array(name).max(1024);
  /** Arguments of each command. Strict: a misspelt argument is an error, never ignored. */
  const args = {
    status: z.strictObject({ names: names.optional(), detail: z.boolean().optional() }),
    health: z.strictObject({}),
    start: z.strictObject({ names: names.min(1), wait: z.boolean().optional() }),
    stop: z.strictObject({ names: names.min(1), wait: z.boolean().optional() }),
    restart: z.strictObject({ names: names.min(1), wait: z.boolean().optional() }),
    signal: z.strictObject({ name, signal: z.union([z.string().min(1).max(32), z.number().int()]), main: z.boolean().optional() }),
    wait: z.strictObject({
      name,
      until: z.enum(['running', 'ready', 'stopped']).optional(),
      // setTimeout's ceiling (about 24.8 days); null or absent waits without a deadline.
      timeout_ms: z.number().int().min(0).max(2 ** 31 - 1).nullable().optional(),
    }),
    logs: z.strictObject({ name, lines: z.number().int().min(0).max(1_000_000).nullable().optional(), follow: z.boolean().optional() }),
    reload: z.strictObject({}),
    // wait: keep the connection open (and exempt from the idle timeout) until tend exits.
    shutdown: z.strictObject({ wait: z.boolean().optional() }),
    version: z.strictObject({}),
    events: z.strictObject({}),
    'exec-plan': z.strictObject({ name }),
  } as const;
  const envelope = z.object({ id, cmd: z.string().max(64), args: z.unknown().optional() });
  return { id, args, envelope };
}

type RequestSchemas = ReturnType<typeof buildRequestSchemas>;
let built: RequestSchemas | null = null;

/** The request schemas (built once, on first use). */
export function requestSchemas(): RequestSchemas {
  return (built ??= buildRequestSchemas());
}

export type RequestId = number | string;

/** Every command, in the order of the protocol's documentation. */
export const COMMANDS = ['status', 'health', 'start', 'stop', 'restart', 'signal', 'wait', 'logs', 'reload', 'shutdown', 'version', 'events', 'exec-plan'] as const;

export type Command = keyof RequestSchemas['args'];
// COMMANDS and the argument schemas name the same commands: checked when compiled.
type Listed = (typeof COMMANDS)[number];
const commandsMatch: [Exclude<Command, Listed>, Exclude<Listed, Command>] extends [never, never] ? true : never = true;
void commandsMatch;
export type ArgsOf<C extends Command> = z.infer<RequestSchemas['args'][C]>;

/** A parsed, validated request: a union discriminated on `cmd`. */
export type Request = { [C in Command]: { readonly id: RequestId; readonly cmd: C; readonly args: ArgsOf<C> } }[Command];

/** Commands `socket_allow: read` permits; everything else needs control access. */
export const READ_COMMANDS: ReadonlySet<Command> = new Set<Command>(['status', 'health', 'logs', 'events', 'version', 'wait']);

export type ParsedRequest =
  | { readonly ok: true; readonly request: Request }
  | { readonly ok: false; readonly id: RequestId | null; readonly code: ErrorCode; readonly message: string };

function isCommand(cmd: string): cmd is Command {
  return (COMMANDS as readonly string[]).includes(cmd);
}

function describeIssue(error: z.ZodError, prefix: string): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid request';
  const path = [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.');
  return path === '' ? issue.message : `${path}: ${issue.message}`;
}

/** Parses one request line (already decoded as UTF-8). */
export function parseRequest(line: string): ParsedRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    // RangeError too: absurdly deep nesting must not escape as an exception.
    return { ok: false, id: null, code: 'bad_request', message: `not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  const { id, args: argsOf, envelope } = requestSchemas();
  const parsed = envelope.safeParse(value);
  if (!parsed.success) {
    const maybeId = id.safeParse((value as { id?: unknown } | null)?.id);
    return { ok: false, id: maybeId.success ? maybeId.data : null, code: 'bad_request', message: describeIssue(parsed.error, '') };
  }
  const { cmd } = parsed.data;
  if (!isCommand(cmd)) {
    return { ok: false, id: parsed.data.id, code: 'unknown_command', message: `unknown command "${cmd}" (known: ${COMMANDS.join(', ')})` };
  }
  const args = argsOf[cmd].safeParse(parsed.data.args ?? {});
  if (!args.success) return { ok: false, id: parsed.data.id, code: 'bad_request', message: `${cmd}: ${describeIssue(args.error, 'args')}` };
  return { ok: true, request: { id: parsed.data.id, cmd, args: args.data } as Request };
}

// ---------------------------------------------------------------------------------------
// replies and events

export interface ErrorBody {
  readonly code: ErrorCode;
  readonly message: string;
  readonly problems?: readonly string[];
}

export type Reply =
  | { readonly id: RequestId | null; readonly ok: true; readonly result: unknown }
  | { readonly id: RequestId | null; readonly ok: false; readonly error: ErrorBody };

/** What each command's successful reply carries. */
export interface ResultOf {
  status: StatusDocument;
  health: HealthDocument;
  start: ActionResult;
  stop: ActionResult;
  restart: ActionResult;
  signal: SignalResult;
  wait: WaitResult;
  logs: { readonly lines: readonly LogLine[] };
  reload: ReloadSummary;
  shutdown: ShutdownResult;
  version: VersionInfo;
  events: Record<string, never>;
  'exec-plan': ExecPlan;
}
