// The command line, parsed once into a discriminated union. main.ts dispatches on it;
// nothing else reads process.argv.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type Command =
  | { readonly kind: 'run'; readonly config: string | null; readonly socket: string | null; readonly logFormat: 'text' | 'json' | null; readonly logLevel: string | null }
  | { readonly kind: 'tini'; readonly argv: readonly string[]; readonly socket: string | null }
  | { readonly kind: 'check'; readonly config: string | null; readonly json: boolean }
  | { readonly kind: 'schema' }
  | { readonly kind: 'import'; readonly from: string | null; readonly paths: readonly string[]; readonly output: string | null; readonly strict: boolean }
  | { readonly kind: 'version' }
  | { readonly kind: 'help' }
  | { readonly kind: 'client'; readonly command: ClientCommand; readonly socket: string | null }
  | { readonly kind: 'top'; readonly socket: string | null }
  | { readonly kind: 'exec' } & ExecOptions;

/** `tend exec`'s request: docker exec's -u, -w and -e over the service's own way of running. */
export interface ExecOptions {
  readonly service: string;
  readonly argv: readonly string[];
  readonly socket: string | null;
  /** `-u USER[:GROUP]`, names or ids: in place of the service's user (root only, as for any switch). */
  readonly user: string | null;
  /** `-w DIR`: in place of the service's cwd; a relative one is taken from the service's. */
  readonly workdir: string | null;
  /** `-e KEY=VALUE` over the service's environment, in order; `-e KEY` (null): the caller's value, if any. */
  readonly env: readonly (readonly [string, string | null])[];
}

export type ClientCommand =
  | { readonly cmd: 'status'; readonly names: readonly string[]; readonly json: boolean; readonly verbose: boolean }
  | { readonly cmd: 'health' }
  | { readonly cmd: 'start' | 'stop' | 'restart'; readonly names: readonly string[]; readonly wait: boolean }
  | { readonly cmd: 'signal'; readonly name: string; readonly signal: string; readonly mainOnly: boolean }
  | { readonly cmd: 'wait'; readonly name: string; readonly until: 'ready' | 'stopped' | 'running'; readonly timeout: string | null }
  | { readonly cmd: 'logs'; readonly name: string; readonly lines: number | null; readonly follow: boolean }
  | { readonly cmd: 'reload' }
  | { readonly cmd: 'shutdown'; readonly wait: boolean }
  | { readonly cmd: 'events'; readonly json: boolean };

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

const socketOption: Options = { socket: { type: 'string' } };

function parse(args: readonly string[], options: Options, positionals: boolean) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: positionals, strict: true });
  } catch (error) {
    // parseArgs' messages are long and mention internals; keep the first sentence.
    const message = error instanceof Error ? error.message.split('. ')[0] ?? error.message : String(error);
    throw new UsageError(message.replace(/^Unknown option/, 'unknown option'));
  }
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function needNames(cmd: string, names: readonly string[]): void {
  if (names.length === 0) throw new UsageError(`${cmd}: name at least one service`);
}

/** Parses tend's arguments (without `node` and the script). Throws UsageError. */
export function parseCommandLine(argv: readonly string[]): Command {
  if (argv[0] === 'exec') return parseExec(argv.slice(1));
  // `--` ends tend's own options: everything after it is the command (tini mode).
  const dashdash = argv.indexOf('--');
  if (dashdash !== -1) {
    const own = argv.slice(0, dashdash);
    const command = argv.slice(dashdash + 1);
    if (own[0] === 'run') own.shift();
    const { values, positionals } = parse(own, socketOption, true);
    if (positionals.length > 0) throw new UsageError(`unexpected argument before --: ${positionals[0]}`);
    if (command.length === 0) throw new UsageError('nothing to run after --');
    return { kind: 'tini', argv: command, socket: str(values.socket) };
  }

  const [first, ...rest] = argv;
  const sub = first === undefined || first.startsWith('-') ? 'run' : first;
  const args = first === undefined || first.startsWith('-') ? argv : rest;

  switch (sub) {
    case 'run': {
      const { values } = parse(args, {
        config: { type: 'string', short: 'c' },
        ...socketOption,
        'log-format': { type: 'string' },
        'log-level': { type: 'string' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      }, false);
      if (values.version) return { kind: 'version' };
      if (values.help) return { kind: 'help' };
      const logFormat = str(values['log-format']);
      if (logFormat !== null && logFormat !== 'text' && logFormat !== 'json') {
        throw new UsageError(`--log-format: expected text | json, got "${logFormat}"`);
      }
      return {
        kind: 'run',
        config: str(values.config),
        socket: str(values.socket),
        logFormat,
        logLevel: str(values['log-level']),
      };
    }
    case 'check': {
      const { values } = parse(args, { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } }, false);
      return { kind: 'check', config: str(values.config), json: values.json === true };
    }
    case 'schema':
      parse(args, {}, false);
      return { kind: 'schema' };
    case 'import': {
      const { values, positionals } = parse(args, { from: { type: 'string' }, output: { type: 'string', short: 'o' }, strict: { type: 'boolean' } }, true);
      if (positionals.length === 0) throw new UsageError('usage: tend import [--from supervisord|systemd|procfile|s6|crontab] PATH... [-o FILE] [--strict]');
      return { kind: 'import', from: str(values.from), paths: positionals, output: str(values.output), strict: values.strict === true };
    }
    case 'version':
      parse(args, {}, false);
      return { kind: 'version' };
    case 'help':
      return { kind: 'help' };
    case 'top': {
      const { values } = parse(args, socketOption, false);
      return { kind: 'top', socket: str(values.socket) };
    }
    default:
      return { kind: 'client', ...parseClient(sub, args) };
  }
}

const EXEC_USAGE = 'usage: tend exec [--socket PATH] [-u USER[:GROUP]] [-w DIR] [-e KEY=VALUE]... SERVICE [--] CMD [ARG...]';

/**
 * `tend exec [OPTIONS] SERVICE [--] CMD [ARG...]`: tend's options come before the service,
 * as with docker exec (same letters: -u, -w, -e); everything after it is the command,
 * untouched (its own options included), an optional `--` first.
 */
function parseExec(args: readonly string[]): Command {
  let socket: string | null = null;
  let user: string | null = null;
  let workdir: string | null = null;
  const env: [string, string | null][] = [];
  const options: Record<string, (value: string) => void> = {
    '--socket': (value) => { socket = value; },
    '--user': (value) => {
      if (!/^[^:]+(:[^:]+)?$/.test(value)) throw new UsageError(`exec: --user ${JSON.stringify(value)}: expected USER or USER:GROUP (names or ids)`);
      user = value;
    },
    '--workdir': (value) => {
      if (value === '') throw new UsageError('exec: --workdir: expected a directory');
      workdir = value;
    },
    '--env': (value) => {
      const eq = value.indexOf('=');
      const key = eq < 0 ? value : value.slice(0, eq);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new UsageError(`exec: --env ${JSON.stringify(value)}: expected KEY=VALUE, or KEY to pass your own value`);
      env.push([key, eq < 0 ? null : value.slice(eq + 1)]);
    },
  };
  const short: Record<string, string> = { '-u': '--user', '-w': '--workdir', '-e': '--env' };
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-h' || arg === '--help') throw new UsageError(EXEC_USAGE);
    if (!arg.startsWith('-')) break;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = short[arg] ?? (eq > 0 ? arg.slice(0, eq) : arg);
    const take = options[name];
    if (take === undefined) throw new UsageError(`exec: unknown option ${arg} before the service (${EXEC_USAGE})`);
    if (eq > 0) {
      take(arg.slice(eq + 1));
      continue;
    }
    const value = args[i + 1];
    if (value === undefined) throw new UsageError(`option '${name} <value>' argument missing`);
    take(value);
    i++;
  }
  const service = args[i];
  if (service === undefined) throw new UsageError(EXEC_USAGE);
  let command = args.slice(i + 1);
  if (command[0] === '--') command = command.slice(1);
  if (command.length === 0) throw new UsageError(`exec: nothing to run in ${service} (${EXEC_USAGE})`);
  return { kind: 'exec', service, argv: command, socket, user, workdir, env };
}

function parseClient(sub: string, args: readonly string[]): { command: ClientCommand; socket: string | null } {
  switch (sub) {
    case 'status': {
      const { values, positionals } = parse(args, { ...socketOption, json: { type: 'boolean' }, verbose: { type: 'boolean', short: 'v' } }, true);
      return { socket: str(values.socket), command: { cmd: 'status', names: positionals, json: values.json === true, verbose: values.verbose === true } };
    }
    case 'health': {
      const { values } = parse(args, socketOption, false);
      return { socket: str(values.socket), command: { cmd: 'health' } };
    }
    case 'start':
    case 'stop':
    case 'restart': {
      const { values, positionals } = parse(args, { ...socketOption, 'no-wait': { type: 'boolean' } }, true);
      needNames(sub, positionals);
      return { socket: str(values.socket), command: { cmd: sub, names: positionals, wait: values['no-wait'] !== true } };
    }
    case 'signal': {
      const { values, positionals } = parse(args, { ...socketOption, main: { type: 'boolean' } }, true);
      const [name, signal, extra] = positionals;
      if (name === undefined || signal === undefined || extra !== undefined) throw new UsageError('usage: tend signal NAME SIGNAL [--main]');
      return { socket: str(values.socket), command: { cmd: 'signal', name, signal, mainOnly: values.main === true } };
    }
    case 'wait': {
      const { values, positionals } = parse(args, {
        ...socketOption, ready: { type: 'boolean' }, stopped: { type: 'boolean' }, timeout: { type: 'string' },
      }, true);
      const [name, extra] = positionals;
      if (name === undefined || extra !== undefined) throw new UsageError('usage: tend wait NAME [--ready | --stopped] [--timeout D]');
      if (values.ready && values.stopped) throw new UsageError('wait: --ready and --stopped are exclusive');
      const until = values.ready ? 'ready' : values.stopped ? 'stopped' : 'running';
      return { socket: str(values.socket), command: { cmd: 'wait', name, until, timeout: str(values.timeout) } };
    }
    case 'logs': {
      const { values, positionals } = parse(args, { ...socketOption, lines: { type: 'string', short: 'n' }, follow: { type: 'boolean', short: 'f' } }, true);
      const [name, extra] = positionals;
      if (name === undefined || extra !== undefined) throw new UsageError('usage: tend logs NAME [-n N] [-f]');
      let lines: number | null = null;
      if (values.lines !== undefined) {
        lines = Number(values.lines);
        if (!Number.isInteger(lines) || lines < 0) throw new UsageError(`logs: -n expects a whole number, got "${String(values.lines)}"`);
      }
      return { socket: str(values.socket), command: { cmd: 'logs', name, lines, follow: values.follow === true } };
    }
    case 'reload': {
      const { values } = parse(args, socketOption, false);
      return { socket: str(values.socket), command: { cmd: 'reload' } };
    }
    case 'shutdown': {
      const { values } = parse(args, { ...socketOption, wait: { type: 'boolean' } }, false);
      return { socket: str(values.socket), command: { cmd: 'shutdown', wait: values.wait === true } };
    }
    case 'events': {
      const { values } = parse(args, { ...socketOption, json: { type: 'boolean' } }, false);
      return { socket: str(values.socket), command: { cmd: 'events', json: values.json === true } };
    }
    default:
      throw new UsageError(`unknown command "${sub}" (try tend help)`);
  }
}

export const USAGE = `usage:
  tend [run] [-c FILE] [--socket PATH] [--log-format text|json] [--log-level L]
  tend [--socket PATH] -- CMD [ARG...]     run one command as init (tini mode)
  tend check [-c FILE] [--json]            validate the manifest and print the start plan
  tend schema                              JSON Schema of the manifest
  tend import [--from KIND] PATH... [-o FILE] [--strict]
                                           a manifest from supervisord, systemd, procfile, s6 or crontab
  tend status [NAME...] [--json] [-v]
  tend health
  tend start|stop|restart NAME... [--no-wait]
  tend signal NAME SIGNAL [--main]
  tend wait NAME [--ready | --stopped] [--timeout D]
  tend logs NAME [-n N] [-f]
  tend events [--json]
  tend top                                 live view of every service (q quits)
  tend exec [-u U[:G]] [-w DIR] [-e K=V] SERVICE [--] CMD [ARG...]
                                           run CMD as the service's processes run, on this terminal
  tend reload
  tend shutdown [--wait]
  tend version
`;
