// Helpers for the example and HTTP tests: run an example's manifest under the real tend
// (as PID 1 of a new PID namespace), talk to it through the real CLI over its own
// control socket, and read its HTTP endpoint. Ports are free ones, so files run in parallel.
import { execFile, spawn } from 'node:child_process';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { ServiceStatus, StatusDocument, TendEvent } from '../../src/control/api';
import { ROOT, TEND_BIN, startTend, tempDir, waitFor, type RunningTend, type StartOptions } from '../helpers/tend';

export const EXAMPLES = join(ROOT, 'examples');

export { freePort } from '../helpers/tend';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built `tend` client with TEND_SOCKET set to `socket`. */
export function cli(socket: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, TEND_SOCKET: socket, ...env };
    delete childEnv.NODE_EXTRA_CA_CERTS;
    execFile(process.execPath, [TEND_BIN, ...args], { env: childEnv, timeout: 15_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface HttpReply {
  readonly status: number;
  readonly type: string;
  readonly body: string;
}

/** GET over plain HTTP, no keep-alive (each probe a fresh connection, as kubelet does). */
export function get(url: string): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export interface Example {
  readonly tend: RunningTend;
  readonly socket: string;
  /** `tend <args>` against this tend's socket. */
  cli(args: readonly string[]): Promise<CliResult>;
  /** `tend status --json`, parsed. */
  status(): Promise<StatusDocument>;
  /** One service from `tend status --json`. */
  service(name: string): Promise<ServiceStatus>;
  /** Waits until `check` holds for the status document. */
  waitStatus(check: (doc: StatusDocument) => boolean, what: string, timeout?: number): Promise<StatusDocument>;
  /** tend's own log messages (text or JSON format), in order. */
  events(): string[];
  /** Starts `tend events --json` (the socket must be up); `stream()` returns what it got so far. */
  follow(): void;
  stream(): TendEvent[];
}

/** `tend events --json` as a child; ends by itself when tend closes the socket. */
function followEvents(socket: string): { events: TendEvent[] } {
  const out = { events: [] as TendEvent[] };
  const env: NodeJS.ProcessEnv = { ...process.env, TEND_SOCKET: socket };
  delete env.NODE_EXTRA_CA_CERTS;
  const child = spawn(process.execPath, [TEND_BIN, 'events', '--json'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  followers.push(child);
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') out.events.push(JSON.parse(line) as TendEvent);
  });
  return out;
}

const followers: ReturnType<typeof spawn>[] = [];

/** Index of the first state event of `service` into `to`, at or after `start`; -1 when none. */
export function stateIndex(events: readonly TendEvent[], service: string, to: string, start = 0): number {
  return events.findIndex((e, i) => i >= start && e.type === 'state' && e.service === service && e.to === to);
}

/** Index of the shutdown event; fails with the stream when there is none. */
export function shutdownIndex(events: readonly TendEvent[]): number {
  const index = events.findIndex((e) => e.type === 'shutdown');
  if (index < 0) throw new Error(`no shutdown event in: ${JSON.stringify(events)}`);
  return index;
}

const started: RunningTend[] = [];

/** SIGKILLs whatever a test left running (unshare --kill-child takes the namespace down). */
export function killLeftovers(): void {
  for (const tend of started.splice(0)) if (tend.child.exitCode === null) tend.child.kill('SIGKILL');
  for (const child of followers.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
}

/** Starts tend on a manifest as PID 1 with its own control socket. */
export function startManifest(manifest: string, env: NodeJS.ProcessEnv = {}, options: StartOptions & { args?: readonly string[] } = {}): Example {
  const socket = join(tempDir('tend-sock-'), 'tend.sock');
  const tend = startTend(['run', '-c', manifest, ...(options.args ?? [])], { pid1: true, ...options, env: { ...env, TEND_SOCKET: socket, ...options.env } });
  started.push(tend);
  const example: Example = {
    tend,
    socket,
    cli: (args) => cli(socket, args),
    async status() {
      const result = await cli(socket, ['status', '--json']);
      if (result.code !== 0) throw new Error(`tend status --json exited ${result.code}: ${result.stderr}`);
      return JSON.parse(result.stdout) as StatusDocument;
    },
    async service(name) {
      const doc = await example.status();
      const found = doc.services.find((s) => s.name === name);
      if (found === undefined) throw new Error(`no service ${name} in ${doc.services.map((s) => s.name).join(', ')}`);
      return found;
    },
    async waitStatus(check, what, timeout = 15_000) {
      let last: StatusDocument | null = null;
      let exited = false;
      void tend.exited.then(() => { exited = true; });
      const describe = () => `${what}; last status: ${JSON.stringify(last?.services.map((s) => [s.name, s.state, s.restarts]))}\n--- stderr:\n${tend.stderr}`;
      const found = await waitFor(async () => {
        if (exited) return 'exited' as const; // no point asking a tend that is gone
        last = await example.status();
        return check(last) ? last : null;
      }, { timeout, interval: 50, what: describe });
      if (found === 'exited') throw new Error(`tend exited while waiting for ${describe()}`);
      return found;
    },
    events: () => tendLog(tend.stderr),
    follow() {
      stream = followEvents(socket);
    },
    stream: () => stream?.events ?? [],
  };
  let stream: { events: TendEvent[] } | null = null;
  return example;
}

/** Starts an example's own manifest, examples/<name>/tend.yaml. */
export function startExample(name: string, env: NodeJS.ProcessEnv = {}, options: StartOptions = {}): Example {
  return startManifest(join(EXAMPLES, name, 'tend.yaml'), env, options);
}

/** tend's own log lines as messages: `tend: web: stopping` in text, `msg` in JSON. */
export function tendLog(stderr: string): string[] {
  const out: string[] = [];
  for (const line of stderr.split('\n')) {
    if (line.startsWith('{')) {
      try {
        const record = JSON.parse(line) as { msg?: unknown; service?: unknown };
        if (typeof record.msg === 'string' && record.service === undefined) out.push(record.msg);
      } catch {
        // a service's own JSON-looking line: not ours
      }
      continue;
    }
    const at = line.indexOf(' tend: ');
    if (at >= 0) out.push(line.slice(at + ' tend: '.length));
  }
  return out;
}

/** Index of the first message starting with `message`; fails the test with the log when absent. */
export function at(messages: readonly string[], message: string): number {
  const index = messages.findIndex((m) => m.startsWith(message));
  if (index < 0) throw new Error(`no "${message}" in tend's log:\n${messages.join('\n')}`);
  return index;
}

/** Every named service is in one of `states`. */
export function allIn(doc: StatusDocument, names: readonly string[], states: readonly string[]): boolean {
  return names.every((name) => {
    const service = doc.services.find((s) => s.name === name);
    return service !== undefined && states.includes(service.state);
  });
}

/** tend's log from the first message starting with `prefix` on (e.g. `shutting down`). */
export function from(messages: readonly string[], prefix: string): string[] {
  const index = messages.findIndex((m) => m.startsWith(prefix));
  if (index < 0) throw new Error(`no message starting "${prefix}" in tend's log:\n${messages.join('\n')}`);
  return messages.slice(index);
}

/**
 * An address of this machine other than loopback (what a published container port or a
 * kubelet probe connects to), or 127.0.0.1 when it has none.
 */
export function outsideAddress(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return '127.0.0.1';
}
