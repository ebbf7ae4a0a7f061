// `tend run`: manifest → Plan → supervisor, with the process layer, the logs and the
// control socket wired around it. Reads like a script, as an init's main should:
// load and validate, become subreaper, start reaping, open the socket, start the
// services, wait for the end, shut down, flush, return the exit code.
import { newInstanceId } from '../process/instance-id';
import { loadPlan, resolveManifestPath, formatIssue, commandRedactor } from '../plan';
import { describeProcess } from '../process/proc';
import type { Plan, LogLevel } from '../plan/types';
import { subscribeSignals, type ReceivedSignal } from '../process/signal-intake';
import { resolveSecretFiles, withSecretFiles } from '../process/secrets';
import { readEnvFiles } from '../process/env-files';
import { startFiles } from './start-files';
import { closeInspectorSoon } from './inspector-guard';
import { compactHeapSoon } from './heap';
import { assertNative, configureSpawn, listenTcp, listenUnix, NativeUnavailableError } from '../../native/libc';
import { closeSync } from 'node:fs';
import { showListen } from '../vocab/listen';
import { adoptProcess, serviceEnvironment, spawnProcess, type SpawnSpec } from '../process/spawn';
import { readPidFile, removePidFile } from '../process/pidfile';
import { openNotifySocket, type NotifyMessage, type NotifySocket } from '../process/notify';
import type { ServicePlan } from '../plan/types';
import { startReaper } from '../process/reaper';
import { signalGroup } from '../process/kill';
import { ProcessTracker } from '../process/tracking';
import { wireResources } from './resources';
import type { ExecPlan, ReloadSummary } from '../control/api';
import { SupervisorLoop, serviceSpec } from '../supervisor/loop';
import { pidOf } from '../supervisor/state';
import { createProbeRunner } from '../supervisor/probes';
import { Scheduler } from '../supervisor/schedule';
import { SYSTEM_CLOCK, type ProcessPort } from '../supervisor/port';
import { createServiceLogs } from '../supervisor/logs';
import { openEdges, type Edges } from './edges';
import { wireSyslog } from './syslog';
import * as say from '../log/messages';
import pkg from '../../package.json';
import { EXIT_INTERNAL, EXIT_USAGE } from '../vocab/exit';
import { findCgroupV2, writableCgroup2 } from '../process/cgroup';

/** The least time the final output flush gets, however little of the shutdown deadline is left. */
const OUTPUT_FLUSH_MIN_MS = 2000;

export interface RunCommand {
  readonly config: string | null;
  readonly socket: string | null;
  readonly logFormat: 'text' | 'json' | null;
  readonly logLevel: string | null;
}

const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/**
 * The cap on services mid-start: TEND_START_SLOTS when it is a positive integer, else none.
 * No cap by default, from measurements (docs/benchmarks.md, "Why the misses at 1,000
 * services"): with 1,000 services on 2 CPUs, caps of 8 to 128 made the start no faster at
 * loads 1.4-4.7 (8: ~1 s slower) and cost tend ~0.2 s more CPU (a wake-up of the loop per
 * slot freed, where without a cap the helpers' answers come in batches). Kept for machines
 * where a herd of starting services does starve tend's spawning thread.
 */
function startSlotsFrom(env: NodeJS.ProcessEnv): number {
  const text = env.TEND_START_SLOTS;
  if (text === undefined || !/^[1-9][0-9]*$/.test(text)) return Infinity;
  return Number(text);
}

/**
 * How libtend starts services (read once, here, at run time: a module-level read would be
 * the snapshot's). By default tend does not wait for a child's exec, only for its session
 * (docs/benchmarks.md, "Spawns in flight"): TEND_SPAWN_WAIT=1 waits, as before, to
 * compare; TEND_SPAWN_INFLIGHT caps the children in flight before their exec (32).
 */
function spawnKnobsFrom(env: NodeJS.ProcessEnv): { wait: boolean; slots: number; hint: 0 | 1 | 2 } {
  const text = env.TEND_SPAWN_INFLIGHT;
  return { wait: env.TEND_SPAWN_WAIT === '1', slots: text !== undefined && /^[1-9][0-9]{0,2}$/.test(text) ? Number(text) : 0, hint: env.TEND_SPAWN_HINT === '0' ? 0 : env.TEND_SPAWN_HINT === '1' ? 1 : 2 };
}

async function load(file: string): Promise<{ ok: true; plan: Plan; warnings: string[] } | { ok: false; lines: string[] }> {
  const result = await loadPlan(file, process.env, { cgroupWritable: writableCgroup2 });
  return result.ok
    ? { ok: true, plan: result.plan, warnings: result.warnings.map(formatIssue) }
    : { ok: false, lines: result.issues.map(formatIssue) };
}

/** `tend status -v`'s command lines: a value from tend's environment is shown as `${NAME}`, as everywhere else. */
const redactors = new WeakMap<Plan, (text: string) => string>();
function describeRedacted(pid: number, session: number | null, plan: Plan): { command: string | null; escaped: boolean } | null {
  const described = describeProcess(pid, session);
  if (described === null || described.command === null) return described;
  let redact = redactors.get(plan);
  if (redact === undefined) redactors.set(plan, redact = commandRedactor(plan));
  return { ...described, command: redact(described.command) };
}

export async function runSupervisor(command: RunCommand): Promise<number> {
  // 1. The manifest: every mistake at once, exit 2, nothing started.
  const located = resolveManifestPath(command.config, process.env);
  if (!located.ok) {
    process.stderr.write(`tend: ${located.message}\n`);
    return EXIT_USAGE;
  }
  const loaded = await load(located.path);
  if (!loaded.ok) {
    process.stderr.write(loaded.lines.map((line) => `${line}\n`).join(''));
    process.stderr.write(`tend: ${loaded.lines.length} problem(s) in ${located.path}; nothing was started\n`);
    return EXIT_USAGE;
  }
  if (command.logLevel !== null && !LOG_LEVELS.includes(command.logLevel as LogLevel)) {
    process.stderr.write(`tend: --log-level: expected ${LOG_LEVELS.join(' | ')}, got "${command.logLevel}"\n`);
    return EXIT_USAGE;
  }
  let plan: Plan = {
    ...loaded.plan,
    settings: {
      ...loaded.plan.settings,
      logFormat: command.logFormat ?? loaded.plan.settings.logFormat,
      logLevel: (command.logLevel as LogLevel | null) ?? loaded.plan.settings.logLevel,
    },
  };

  // 2. The native layer: tend never runs half-correct.
  try {
    assertNative();
  } catch (error) {
    if (error instanceof NativeUnavailableError) {
      process.stderr.write(`tend: ${error.message}\n`);
      return EXIT_INTERNAL;
    }
    throw error;
  }

  const knobs = spawnKnobsFrom(process.env);
  configureSpawn(knobs.wait, knobs.slots, knobs.hint);

  // 3. Logs, reaping, tracking.
  const logs = createServiceLogs(plan);
  const log = logs.tend;
  for (const warning of loaded.warnings) log.warn(warning);
  const instance = newInstanceId();
  const reaper = startReaper();
  const tracker = new ProcessTracker({ tracking: plan.settings.tracking, instance, reaper });
  // Every spawn of a service's command, stop command or probe reads its secret files first.
  // Every spawn of a service's command, stop command or probe reads its env_files too.
  // `tend exec` asks for the spec the spawner would use, without spawning: it is caught here.
  let capture: ((spec: SpawnSpec) => void) | null = null;
  const files = startFiles(withSecretFiles((spec: SpawnSpec) => {
    if (capture === null) return spawnProcess(spec, spawnContext());
    capture(spec);
    return { pid: 0, stdout: null, stderr: null, notify: null, exit: new Promise<never>(() => undefined) };
  }), log);
  const spawnPlain = files.spawn;
  function spawnContext(): { instance: string; socket: string | null } {
    return { instance, socket: process.env.TEND_SOCKET ?? null };
  }
  // limits: through cgroups where they can go, tend's own memory check where not; OOM kills named.
  let overMemory: (service: string, bytes: number, limit: number) => void = () => {};
  const resources = wireResources({
    plan: () => plan, cgroups: tracker.serviceCgroups(), instance, noCgroups: plan.settings.tracking === 'proc',
    spawn: spawnPlain, processesOf: (service) => tracker.processesOf(service), log,
    overMemory: (service, bytes, limit) => overMemory(service, bytes, limit),
  });
  const spawn = resources.spawn;

  // sd_notify: one socket for this tend, opened when a service first needs it; only the
  // services that use it get NOTIFY_SOCKET. A message counts only from a process the
  // service owns (the sender's pid, as the kernel stated it); others are dropped and counted.
  const usesNotify = (service: ServicePlan | undefined): boolean => service?.ready?.check.kind === 'sd_notify';
  let notify: NotifySocket | null | undefined;
  let notifyDropped = 0;
  const onNotify = (message: NotifyMessage): void => {
    // The sender, or — when it is gone already (systemd-notify sends and exits) — the
    // nearest of its parents as they were when the message came.
    const candidates = message.pid > 0 ? [message.pid, ...message.ancestors.filter((pid) => pid > 1)] : [];
    for (const pid of candidates) {
      for (const [name, record] of supervisor.state.services) {
        if (!usesNotify(record.plan) || !tracker.processesOf(name).includes(pid)) continue;
        supervisor.deliver({ kind: 'notified', service: name, pid: message.pid, fields: message.fields });
        return;
      }
    }
    notifyDropped += 1;
    if (notifyDropped <= 10 || notifyDropped % 1000 === 0) log.warn(say.notifyDropped(message.pid, message.uid, notifyDropped));
  };
  const notifySocket = (): NotifySocket | null => {
    if (notify !== undefined) return notify;
    try {
      notify = openNotifySocket(`@tend-notify-${instance}`, onNotify);
    } catch (error) {
      log.error(say.notifyUnavailable(error instanceof Error ? error.message : String(error)));
      notify = null;
    }
    return notify;
  };
  // Socket activation: each service's sockets are bound at its first start (as root when
  // tend is) and held, across restarts, until tend exits; a connection made during a
  // restart waits in the backlog. A socket that cannot be bound is a failed start.
  const listening = new Map<string, { readonly key: string; readonly fds: readonly number[]; readonly names: readonly string[] }>();
  const socketsFor = (service: ServicePlan): { fds: readonly number[]; names: readonly string[] } | string => {
    const sockets = service.sockets ?? [];
    const key = JSON.stringify(sockets);
    const held = listening.get(service.name);
    if (held !== undefined && held.key === key) return held;
    // Changed by a reload: the new ones are bound; the old ones close once replaced.
    const fds: number[] = [];
    for (const socket of sockets) {
      const a = socket.address;
      const fd = a.kind === 'unix' ? listenUnix(a.path, socket.backlog, socket.mode ?? -1) : listenTcp(a.host, a.port, socket.backlog);
      if (typeof fd === 'string') {
        for (const open of fds) closeSync(open);
        return say.listenFailed(showListen(a), fd);
      }
      fds.push(fd);
    }
    if (held !== undefined) for (const fd of held.fds) closeSync(fd);
    const entry = { key, fds, names: sockets.map((s) => s.name) };
    listening.set(service.name, entry);
    return entry;
  };
  const withSockets = (spec: SpawnSpec, service: ServicePlan | undefined): SpawnSpec | string => {
    if (service === undefined || (service.sockets ?? []).length === 0 || spec.role !== undefined) return spec;
    const held = socketsFor(service);
    if (typeof held === 'string') return held;
    return {
      ...spec,
      env: { ...spec.env, LISTEN_FDS: String(held.fds.length), LISTEN_FDNAMES: held.names.join(':') },
      listenFds: held.fds,
      pidVariables: [...(spec.pidVariables ?? []), 'LISTEN_PID'],
    };
  };
  const spawnService = (plain: SpawnSpec): ReturnType<typeof spawn> => {
    const service = supervisor.state.services.get(plain.service)?.plan;
    const activated = withSockets(plain, service);
    if (typeof activated === 'string') {
      // Another process holds the port: it may let go of it, so the restart policy decides.
      return { pid: 0, stdout: null, stderr: null, notify: null, exit: Promise.resolve({ kind: 'failed', code: 126, reason: activated, transient: true }) };
    }
    const spec = activated;
    if (!usesNotify(service) || spec.role !== undefined) return spawn(spec);
    const socket = notifySocket();
    if (socket === null) return spawn(spec);
    const watchdog = service?.watchdog ?? null;
    // WATCHDOG_PID is the service's own pid: the exec helper sets it, after the fork.
    return spawn(watchdog === null
      ? { ...spec, env: { ...spec.env, NOTIFY_SOCKET: socket.path } }
      : { ...spec, env: { ...spec.env, NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: String(watchdog * 1000) }, pidVariables: [...(spec.pidVariables ?? []), 'WATCHDOG_PID'] });
  };

  // The process layer as the supervisor sees it: primitives, no policy.
  const pid1 = process.pid === 1;
  const port: ProcessPort = {
    spawn: spawnService,
    leafFor: (service) => tracker.leafFor(service),
    noteSpawned: (service, pid) => tracker.noteSpawned(service, pid),
    adopt: (service, pid) => {
      const adopted = adoptProcess(pid);
      if (!('exit' in adopted)) return adopted;
      tracker.noteSpawned(service, pid);
      return { exit: resources.adopted(service, adopted.exit) };
    },
    readPidFile,
    removePidFile,
    processesOf: (service) => tracker.processesOf(service),
    orphans: () => tracker.orphans(),
    signalService: (service, signal) => tracker.signalService(service, signal),
    signalPid: (pid, signal) => tracker.signalPid(pid, signal),
    signalGroup: (pgid, signal) => signalGroup(pgid, signal),
    killService: (service) => tracker.killService(service),
    sweep: (signal) => tracker.signalLeft(signal, pid1),
    watchGone: (service, rekill, onGone) => tracker.watchGone(service, rekill, onGone),
    release: (service) => tracker.release(service),
    reapNow: () => void reaper.reapNow(),
  };
  let edges: Edges | null = null;
  const scheduler = new Scheduler(log);
  const supervisor = new SupervisorLoop(plan, {
    port,
    clock: SYSTEM_CLOCK,
    random: Math.random,
    log,
    probes: createProbeRunner(SYSTEM_CLOCK, spawnPlain),
    schedule: (service, schedule, fire) => scheduler.add(service, schedule, fire),
    attachOutput: (service, spawned, onLine) => logs.attach(service, spawned, onLine),
    startSlots: startSlotsFrom(process.env),
  });
  supervisor.subscribe((event) => edges?.handler.publish(event));
  supervisor.subscribe((event) => files.onChange(event, supervisor.state));
  // settings.syslog: open before any service starts, so its first message has somewhere to go.
  const syslog = plan.settings.syslog === null ? null : wireSyslog({
    path: plan.settings.syslog, logs,
    services: () => [...supervisor.state.services.values()].map((record) => record.plan),
    processesOf: (service) => tracker.processesOf(service),
    formerOwner: (pid) => tracker.formerOwner(pid),
    cgroupRoot: tracker.serviceCgroups()?.root ?? null,
    cgroupMount: findCgroupV2()?.mount ?? null,
  });
  overMemory = (service, bytes, limit) => supervisor.deliver({ kind: 'memory-exceeded', service, bytes, limit });

  const reload = async (): Promise<{ ok: true; summary: ReloadSummary } | { ok: false; problems: string[]; shuttingDown?: boolean }> => {
    const file = plan.file;
    if (file === null) return { ok: false, problems: ['no manifest to reload'] };
    const next = await load(file);
    if (!next.ok) {
      log.error(say.reloadRefused(next.lines.length, file));
      for (const line of next.lines) log.error(line);
      return { ok: false, problems: next.lines };
    }
    for (const warning of next.warnings) log.warn(warning);
    const previousLevel = plan.settings.logLevel;
    const reply = supervisor.submit({ kind: 'reload', plan: next.plan, envChanged: files.envChanged(next.plan, supervisor.state) });
    // Refused by the core: a shutdown began while the manifest was read.
    if (reply.kind !== 'reloaded') return { ok: false, problems: [], shuttingDown: true };
    const diff = reply.diff;
    plan = supervisor.state.plan;
    logs.update(plan);
    if (diff.logLevel !== null) {
      log.info(say.levelChanged(previousLevel, diff.logLevel));
      logs.setLevel(diff.logLevel);
    }
    // A changed service that stays stopped (by hand, or not autostarted) was not restarted: say so.
    const stayDown = diff.changed.filter((name) => supervisor.state.services.get(name)?.state.id === 'stopped');
    const restarted = diff.changed.filter((name) => !stayDown.includes(name));
    const parts = [
      diff.added.length > 0 ? `added ${diff.added.join(', ')}` : null,
      diff.removed.length > 0 ? `removed ${diff.removed.join(', ')}` : null,
      restarted.length > 0 ? `restarted ${restarted.join(', ')}` : null,
      stayDown.length > 0 ? `changed ${stayDown.join(', ')} (${stayDown.length === 1 ? 'stays' : 'stay'} stopped until \`tend start\`)` : null,
      diff.pending.length > 0 ? `pending until tend restarts: ${diff.pending.join(', ')}` : null,
    ].filter((part) => part !== null);
    log.info(say.reloaded(file, parts.length > 0 ? parts.join('; ') : 'nothing changed'));
    const summary: ReloadSummary = { added: diff.added, removed: diff.removed, changed: diff.changed, unchanged: diff.unchanged, pending: diff.pending };
    edges?.handler.publish({ type: 'reload', time: Date.now(), summary });
    compactHeapSoon();
    return { ok: true, summary };
  };

  /**
   * `tend exec`: the service's spawn spec as its next start would have it — through the
   * same limits (cgroup leaves made ready) and secret files (read now) — and the whole
   * environment it would get. No NOTIFY_SOCKET and no LISTEN_* sockets: those are the
   * service's own process's. The client runs the exec helper with it, with its own stdio.
   */
  const execPlan = (name: string): ExecPlan | string => {
    const service = supervisor.state.services.get(name)?.plan;
    if (service === undefined) return 'no such service';
    let captured: SpawnSpec | null = null;
    capture = (spec) => { captured = spec; };
    try {
      // Not the service's own process (its env_files digest is not recorded), and its
      // runtime directory is the running service's: left as it is.
      spawn({ ...serviceSpec(service, tracker.leafFor(name)), serviceProcess: false, runtimeDirectory: null, stdin: 'inherit', output: 'inherit', notifyFd: null, session: 'caller' });
    } finally {
      capture = null;
    }
    const spec = captured as SpawnSpec | null;
    if (spec === null) {
      // Nothing reached the spawner: an env_file or a secret file could not be read (the start would fail likewise).
      const envFiles = readEnvFiles(service.envFiles, service.envCleared);
      if (!envFiles.ok) return envFiles.message;
      const secrets = resolveSecretFiles(service.secretFiles);
      return secrets.ok ? 'its launch plan could not be made' : secrets.message;
    }
    return {
      // A service with no cwd runs in tend's: the plan says where, wherever the caller stands.
      name, user: spec.user, group: spec.group, cwd: spec.cwd ?? process.cwd(), env: serviceEnvironment(spec, spawnContext()),
      cgroup: spec.cgroup, joins: spec.joins ?? [], nofile: spec.nofile ?? null, core: spec.core ?? null, oom_score_adj: spec.oomScoreAdj ?? null,
      umask: spec.umask ?? null,
      tend_uid: process.getuid?.() ?? 0, tend_gid: process.getgid?.() ?? 0,
      pid: pidOf(supervisor.state.services.get(name)!.state),
    };
  };

  // 4. The control socket (and HTTP): a live tend on the same path keeps it; we exit 2.
  const usageTracker = {
    processesOf: (s: string) => tracker.processesOf(s), orphans: () => tracker.orphans(), view: () => tracker.view(), usage: resources.usage, limitBackends: resources.described,
    describe: (pid: number, session: number | null) => describeRedacted(pid, session, supervisor.state.plan),
  };
  const opened = await openEdges({ plan, socketFlag: command.socket, supervisor, tracker: usageTracker, logs, reload, execPlan, log, reaped: () => reaper.reaped, syslog: () => syslog?.counts() ?? null });
  if (!opened.ok) {
    process.stderr.write(`tend: ${opened.message}\n`);
    resources.close();
    tracker.close();
    await logs.flush();
    return EXIT_USAGE;
  }
  edges = opened.edges;
  const control = opened.edges;

  // 5. Signals: whatever came since start-up waited; now it takes effect.
  let terminations = 0;
  subscribeSignals((signal: ReceivedSignal) => {
    switch (signal.name) {
      case 'SIGTERM':
      case 'SIGINT':
      case 'SIGQUIT':
      // systemd's "halt": images made for systemd declare STOPSIGNAL SIGRTMIN+3, and a
      // `docker stop` of one sends it to tend instead of SIGTERM. It means what SIGTERM
      // means to tend — stop everything in order — so it is handled as SIGTERM, not
      // forwarded: tend, not the main service, owns the shutdown.
      case 'SIGRTMIN+3':
        terminations += 1;
        if (terminations === 1) supervisor.submit({ kind: 'shutdown', how: 'ordered', reason: `received ${signal.name}`, requested: true });
        else supervisor.submit({ kind: 'shutdown', how: 'at-once' });
        return;
      case 'SIGHUP':
        void reload();
        return;
      case 'SIGUSR1':
      case 'SIGUSR2':
      case 'SIGWINCH': {
        const main = supervisor.state.plan.main;
        if (main !== null) supervisor.submit({ kind: 'signal', name: main, signal: signal.number, mainOnly: true });
        return;
      }
      default:
        // SIGTTIN, SIGTTOU, SIGTSTP: ignored, an init does not stop. The rest (SIGALRM,
        // SIGPWR, other real-time signals...) mean nothing to tend: ignored, where their
        // default action would have ended it and orphaned the services.
        return;
    }
  });

  // 6. Never die silently: an internal error still shuts down in order, then exits 70.
  process.on('uncaughtException', (error) => supervisor.fault(error));
  process.on('unhandledRejection', (error) => supervisor.fault(error));

  // The output still queued for a slow console reader gets what is left of the shutdown's
  // deadline (at least 2 s) before tend exits; whatever is dropped then is said.
  let shutdownBegan: number | null = null;
  supervisor.subscribe((event) => {
    if (shutdownBegan === null && event.type === 'phase' && event.phase === 'shutting-down') shutdownBegan = Date.now();
    // The start's garbage sits in the old space until compacted (roots/heap.ts).
    if (event.type === 'phase' && event.phase === 'running') compactHeapSoon();
  });

  log.info(say.tendStarting(pkg.version, plan.services.length, plan.file ?? 'the command line', process.pid, control.socketPath));
  supervisor.start();
  closeInspectorSoon();
  const code = await supervisor.done;
  // The request that ended it (`tend shutdown`, `tend stop` of main, or of the last service
  // when nothing else runs) may have finished the shutdown within its own step: its reply,
  // written once the handler's promise settles, goes out before the socket closes.
  await new Promise((resolve) => setImmediate(resolve));

  // Everything has stopped: the last output, the socket and the cgroups wind down together.
  await Promise.all([logs.drain(), control.close()]);
  resources.close();
  tracker.close();
  log.info(say.exiting(code));
  const budget = Math.max(OUTPUT_FLUSH_MIN_MS, plan.settings.shutdownTimeout - (Date.now() - (shutdownBegan ?? Date.now())));
  const dropped = await logs.flush(budget);
  if (dropped > 0) {
    log.warn(say.outputDropped(dropped, budget));
    await logs.flush(500);
  }
  return code;
}
