// `tend exec SERVICE [--] CMD [ARG...]`: CMD as the service's processes run — its user and
// groups, cwd, environment (env files, env, secrets, tend's markers), limits and cgroup —
// with the caller's own terminal and stdio, exiting with CMD's status. docker exec's -u, -w and -e
// change one of those each (a switch of user needs root, as any does).
//
// Node cannot pass file descriptors over the control socket, so tend cannot start CMD on
// the caller's terminal itself. Instead the client asks tend for the service's launch plan
// (`exec-plan`: control access, the service running) and starts CMD through tend's own exec
// helper, as tend would, from here: the helper joins the service's cgroup leaf (so tend
// sees CMD, and whatever it forks, as the service's: `tend status -v`, usage, stop and
// signal) and CMD carries the service's TEND_SERVICE/TEND_INSTANCE markers (how proc
// tracking finds it). CMD stays in this client's process group and session: for the
// terminal, the client and CMD are one job — Ctrl-C reaches CMD, Ctrl-Z stops both (the
// client stops itself, as a shell's job would), `fg` continues both, and an interactive
// shell takes the terminal for its own jobs and gives it back when it exits.
import { isAbsolute, join } from 'node:path';
import type { ExecPlan } from '../control/api';
import type { ExecOptions } from '../cli/args';
import { connectControl } from '../control/client';
import { spawnProcess, type SpawnSpec } from '../process/spawn';
import { subscribeSignals, type ReceivedSignal } from '../process/signal-intake';
import { signalStarted } from '../process/kill';
import { chooseSocket } from './client';
import { systemAccounts } from '../control/access';
import { assertNative, NativeUnavailableError } from '../../native/libc';
import { EXIT_INTERNAL } from '../vocab/exit';
import { SIGSTOP } from '../vocab/signals';


const EXIT_FAILED = 1;
const PLAN_REPLY_MS = 30_000;

/** Signals the terminal sends to the whole foreground job: CMD has its own copy. */
const FROM_TERMINAL = new Set(['SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGWINCH']);
/** Signals that stop a job: the client stops too, so the shell sees the whole job stopped. */
const STOPS = new Set(['SIGTSTP', 'SIGTTIN', 'SIGTTOU']);
/** Nothing to do: they only tell about children, urgent data or a continue that reached us too. */
const IGNORED = new Set(['SIGCHLD', 'SIGURG', 'SIGCONT', 'SIGPIPE']);

export async function runExec(command: ExecOptions): Promise<number> {
  const say = (text: string): void => { process.stderr.write(`tend: exec: ${text}\n`); };
  // Signals wait in the intake until the child exists: none is lost, none acted on too early.
  let child = 0;
  const early: ReceivedSignal[] = [];
  const onSignal = (signal: ReceivedSignal): void => {
    if (child === 0) {
      early.push(signal);
      return;
    }
    relay(signal, child);
  };
  subscribeSignals(onSignal);

  const uid = process.getuid?.() ?? 0;
  const chosen = chooseSocket(command.socket, { env: process.env, uid });
  if (!chosen.ok) {
    say(chosen.message);
    return EXIT_FAILED;
  }
  const connected = await connectControl(chosen.choice, { uid });
  if (!connected.ok) {
    say(connected.message);
    return EXIT_FAILED;
  }
  const client = connected.value;
  const reply = await client.request('exec-plan', { name: command.service }, { timeoutMs: PLAN_REPLY_MS });
  client.close();
  if (!reply.ok) {
    say(reply.message);
    return EXIT_FAILED;
  }
  try {
    assertNative();
  } catch (error) {
    if (error instanceof NativeUnavailableError) {
      say(error.message);
      return EXIT_INTERNAL;
    }
    throw error;
  }

  const plan: ExecPlan = reply.value;
  // A service with no `user:` runs as tend does. A caller of another uid must become that
  // uid (root can), or CMD would run with the wrong identity.
  let user = plan.user;
  let group = plan.group;
  if (user === null && uid !== plan.tend_uid) {
    if (uid !== 0) {
      say(`${plan.name} runs as uid ${plan.tend_uid} (tend's own); you are uid ${uid}, and only root can switch to it`);
      return EXIT_FAILED;
    }
    user = plan.tend_uid;
    group ??= plan.tend_gid;
  }
  if (command.user !== null) {
    // -u: the caller's choice over the service's (docker exec -u); switching needs root.
    const [name, groupName] = command.user.split(':') as [string, string | undefined];
    const asked = /^\d+$/.test(name) ? Number(name) : name;
    if (uid !== 0 && uidOf(asked) !== uid) {
      say(`-u ${command.user}: only root can switch users; you are uid ${uid}`);
      return EXIT_FAILED;
    }
    user = asked;
    group = groupName === undefined ? null : /^\d+$/.test(groupName) ? Number(groupName) : groupName;
  }
  let env = plan.env;
  if (uid !== 0 && user !== null && uidOf(user) === uid && (group === null || gidOf(group) === (process.getgid?.() ?? -1))) {
    // Already the service's user: nothing to switch (and no privilege to set groups with);
    // HOME, USER and LOGNAME, which tend leaves to the switch, are the caller's own.
    user = null;
    group = null;
    const own: Record<string, string> = {};
    for (const key of ['HOME', 'USER', 'LOGNAME']) if (plan.env[key] === undefined && process.env[key] !== undefined) own[key] = process.env[key]!;
    env = { ...plan.env, ...own };
  }
  if (command.env.length > 0) {
    const added: Record<string, string> = {};
    // -e KEY alone passes the caller's value, and nothing when the caller has none (docker's way).
    for (const [key, value] of command.env) if (value !== null || process.env[key] !== undefined) added[key] = value ?? process.env[key]!;
    env = { ...env, ...added };
  }
  const spec: SpawnSpec = {
    service: plan.name,
    argv: command.argv,
    env: {},
    cwd: command.workdir === null || isAbsolute(command.workdir) ? command.workdir ?? plan.cwd : join(plan.cwd ?? '/', command.workdir),
    user,
    group,
    stdin: 'inherit',
    output: 'inherit',
    notifyFd: null,
    cgroup: plan.cgroup,
    joins: plan.joins,
    nofile: plan.nofile,
    core: plan.core,
    oomScoreAdj: plan.oom_score_adj,
    umask: plan.umask,
    session: 'caller',
  };
  const spawned = spawnProcess(spec, { instance: '', socket: null, markers: false, environment: env });
  if (spawned.pid > 0) {
    child = spawned.pid;
    for (const signal of early.splice(0)) relay(signal, child);
  }
  const status = await spawned.exit;
  switch (status.kind) {
    case 'exited':
      return status.code;
    case 'signaled':
      return 128 + status.signal;
    case 'failed':
      // CMD starts with the caller's privileges, not tend's: say so when they fell short.
      say(uid !== 0 && status.code === 126 && /permission denied|operation not permitted|need root/.test(status.reason)
        ? `${status.reason} (tend exec starts CMD with your own privileges, uid ${uid}: switching to the service's user and joining its cgroup need root)`
        : status.reason);
      return status.code;
  }
}

function uidOf(user: string | number): number | null {
  if (typeof user === 'number') return user;
  return systemAccounts().users.get(user)?.uid ?? (/^\d+$/.test(user) ? Number(user) : null);
}

function gidOf(group: string | number): number | null {
  if (typeof group === 'number') return group;
  return systemAccounts().groups.get(group)?.gid ?? (/^\d+$/.test(group) ? Number(group) : null);
}

/**
 * What the client does with a signal while CMD runs. From the terminal (no sender): CMD,
 * in the same foreground job, got it too — nothing to add; a stop signal stops the client
 * as well. From a process (`kill`, `docker kill`, a timeout wrapper): CMD gets it, as it
 * would have, had the client been CMD itself.
 */
function relay(signal: ReceivedSignal, child: number): void {
  if (IGNORED.has(signal.name)) return;
  const fromTerminal = signal.pid === 0;
  if (!(fromTerminal && FROM_TERMINAL.has(signal.name)) && signal.pid !== child) {
    if (!(fromTerminal && STOPS.has(signal.name))) signalStarted(child, signal.number);
  }
  if (STOPS.has(signal.name)) process.kill(process.pid, SIGSTOP);
}
