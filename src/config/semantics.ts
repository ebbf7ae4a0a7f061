// Step 4: rules that span keys or services (README: Manifest reference): one main, known and acyclic
// dependencies, conditions a dependency can meet, schedule and stdin only where they
// make sense, one probe kind, a usable cgroup for `tracking: cgroup`. These read the
// raw (interpolated) document defensively, so they run — and report — even when the
// schema found problems elsewhere: the user sees every mistake at once.
import { parseListen } from '../vocab/listen';
import type { ConfigIssue } from './issues';
import { joinPath } from './issues';
import { locate, type SourceFor } from './source';
import { didYouMean } from './suggest';
import { findCycles } from './cycles';
import { PROBE_KINDS, HEALTH_KINDS } from './schema';

export interface SemanticContext {
  /** The file a key path was written in (a service's may be an included file). */
  readonly sourceFor: SourceFor;
  /** Whether a writable cgroup v2 exists here; asked only when `tracking: cgroup`. */
  readonly cgroupWritable: () => { ok: true } | { ok: false; reason: string };
}

type Raw = Record<string, unknown>;

/**
 * In cgroup tracking each service is a directory of its own name next to the kernel's
 * interface files, which are named `cgroup.*` or `<controller>.*` (cgroup v2's
 * controllers, pressure files included): `cpu.stat` could never be created. Refused in
 * every tracking mode, so a manifest does not break when it moves to a host with cgroups.
 */
const CGROUP_FILE_PREFIXES = new Set(['cgroup', 'cpu', 'cpuset', 'io', 'memory', 'pids', 'rdma', 'hugetlb', 'misc', 'irq', 'dmem', 'perf_event', 'freezer']);

function record(value: unknown): Raw | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Raw) : null;
}

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly condition: unknown;
  /** Path of the entry naming the dependency, and whether to point at its key. */
  readonly path: readonly PropertyKey[];
  readonly anchor: 'key' | 'value';
}

function edgesOf(name: string, service: Raw): Edge[] {
  const deps = service.depends_on;
  const base = ['services', name, 'depends_on'];
  if (Array.isArray(deps)) {
    return deps.flatMap((to, index) => (typeof to === 'string' ? [{ from: name, to, condition: 'started', path: [...base, index], anchor: 'value' as const }] : []));
  }
  const map = record(deps);
  if (!map) return [];
  return Object.entries(map).map(([to, spec]) => ({ from: name, to, condition: record(spec)?.condition ?? 'started', path: [...base, to], anchor: 'key' as const }));
}

export function checkSemantics(raw: unknown, context: SemanticContext): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const report = (path: readonly PropertyKey[], message: string, anchor: 'key' | 'value' = 'value') => {
    const source = context.sourceFor(path);
    issues.push({ file: source.file, ...locate(source, path, anchor), path: joinPath(path), message });
  };

  const root = record(raw);
  if (root === null) {
    // An empty file, or a document that is a list or a scalar.
    report([], raw === null || raw === undefined ? 'the manifest is empty; define services:' : 'expected a map with settings: and services:');
    return issues;
  }
  const services = record(root.services);
  if (services !== null && Object.keys(services).length === 0) report(['services'], 'define at least one service');

  const entries = Object.entries(services ?? {}).flatMap(([name, value]) => {
    const service = record(value);
    return service ? [[name, service] as const] : [];
  });
  const byName = new Map(entries);

  // At most one main.
  const mains = entries.filter(([, s]) => s.main === true).map(([name]) => name);
  for (const extra of mains.slice(1)) {
    report(['services', extra, 'main'], `only one service can be main; "${mains[0]}" is main already`);
  }

  const edges = entries.flatMap(([name, service]) => edgesOf(name, service));
  for (const edge of edges) {
    const target = byName.get(edge.to);
    if (!services || !Object.hasOwn(services, edge.to)) {
      report(edge.path, `unknown service "${edge.to}"${didYouMean(edge.to, byName.keys())}`, edge.anchor);
      continue;
    }
    if (!target) continue;
    const conditionPath = [...edge.path, 'condition'];
    if (edge.condition === 'ready' && target.ready === undefined && target.type !== 'forking') {
      report(conditionPath, `"${edge.to}" has no ready probe; add ready: to "${edge.to}" or use condition: started`);
    }
    if (edge.condition === 'completed' && (target.type ?? 'longrun') !== 'oneshot') {
      report(conditionPath, `"${edge.to}" is a longrun and never completes; condition: completed needs type: oneshot`);
    }
  }

  const order = entries.map(([name]) => name);
  for (const cycle of findCycles(order, edges.filter((e) => byName.has(e.to)).map((e) => [e.from, e.to] as const))) {
    const first = cycle.loop[0]!;
    const also = cycle.others.length > 0 ? ` (also involving ${cycle.others.join(', ')})` : '';
    report(['services', first, 'depends_on'], `dependency cycle: ${[...cycle.loop, first].join(' -> ')}${also}`);
  }

  for (const name of Object.keys(services ?? {})) {
    const prefix = /^([^.]*)\./.exec(name)?.[1];
    if (prefix !== undefined && CGROUP_FILE_PREFIXES.has(prefix)) {
      report(['services', name], `"${name}" is the name of a cgroup file: each service gets a cgroup directory of its name, and names starting "cgroup." or a controller's name ("cpu.", "memory.", "io.", "pids."…) are the kernel's`, 'key');
    }
  }

  // One owner per runtime directory: it is removed when its service stops.
  const runtimeOwners = new Map<string, string>();
  for (const [name, service] of entries) {
    if (typeof service.runtime_directory !== 'string') continue;
    const dir = service.runtime_directory.replace(/\/+$/, '');
    const owner = runtimeOwners.get(dir);
    if (owner === undefined) runtimeOwners.set(dir, name);
    else report(['services', name, 'runtime_directory'], `/run/${dir} is "${owner}"'s runtime_directory already: it is removed whenever its service stops; give each service its own, or let one make it`);
  }

  for (const [name, service] of entries) {
    const at = (key: string) => ['services', name, key];
    const isMain = service.main === true;
    const log = record(service.log);
    if (log !== null && typeof log.stderr_file === 'string' && log.stderr_file === log.file) {
      report(['services', name, 'log', 'stderr_file'], 'stderr_file is log.file: leave stderr_file out to write both streams to that file');
    }
    if (service.schedule !== undefined && service.schedule !== null) {
      if (isMain) report(at('schedule'), 'schedule cannot be used on main: main runs once and its exit ends the container');
      else if ((service.type ?? 'longrun') !== 'oneshot') report(at('schedule'), `schedule needs type: oneshot ("${name}" is a longrun)`);
    }
    const scheduled = service.schedule !== undefined && service.schedule !== null;
    for (const key of ['concurrency', 'time_zone'] as const) {
      if (service[key] !== undefined && !scheduled) report(at(key), `${key} needs schedule: it says how "${name}"'s scheduled runs behave`);
    }
    if (service.timeout !== undefined && (service.type ?? 'longrun') !== 'oneshot') {
      report(at('timeout'), `timeout needs type: oneshot ("${name}" is a ${typeof service.type === 'string' ? service.type : 'longrun'}; a longrun's start is bounded by ready.timeout)`);
    }
    if (service.stdin === 'inherit' && !isMain) report(at('stdin'), 'stdin: inherit is only allowed on main (only one process can own tend\'s stdin)');
    if (Array.isArray(service.sockets)) {
      service.sockets.forEach((socket, index) => {
        const entry = record(socket);
        if (entry === null || (typeof entry.listen !== 'string' && typeof entry.listen !== 'number')) return;
        const parsed = parseListen(entry.listen);
        if (typeof parsed === 'string') report(['services', name, 'sockets', index, 'listen'], parsed);
        else if (entry.mode !== undefined && parsed.kind !== 'unix') report(['services', name, 'sockets', index, 'mode'], 'mode is for unix sockets only');
      });
    }
    if (service.watchdog !== undefined && record(service.ready)?.sd_notify !== true) report(at('watchdog'), 'watchdog needs ready: { sd_notify: true }: the service sends WATCHDOG=1 on $NOTIFY_SOCKET');
    if (service.pid_file !== undefined && service.type !== 'forking') report(at('pid_file'), `pid_file needs type: forking ("${name}" is a ${typeof service.type === 'string' ? service.type : 'longrun'})`);
    if (service.type === 'forking' && record(service.ready)?.notify_fd !== undefined) {
      report(['services', name, 'ready', 'notify_fd'], 'notify_fd cannot be used with type: forking: the daemon is not the process tend started');
    }
    const never = criticalNeverActs(service);
    if (never !== null) report(at('critical'), never);
    checkProbeKinds(service.ready, at('ready'), PROBE_KINDS, report);
    checkProbeKinds(service.healthcheck, at('healthcheck'), HEALTH_KINDS, report);
  }

  const settings = record(root.settings);
  if (settings?.tracking === 'cgroup') {
    const cgroup = context.cgroupWritable();
    if (!cgroup.ok) report(['settings', 'tracking'], `cgroup needs a writable cgroup v2 hierarchy: ${cgroup.reason}; use auto or proc`);
  }
  const allow = settings?.socket_allow;
  if (Array.isArray(allow)) {
    allow.forEach((grant, index) => {
      const entry = record(grant);
      if (entry && (entry.user === undefined) === (entry.group === undefined)) {
        report(['settings', 'socket_allow', index], 'expected exactly one of user or group');
      }
    });
  }
  return issues;
}

/**
 * `critical` acts when the service fails for good. One that restarts on failure with no
 * restart limit never does (short of a command that cannot start at all): the key would
 * promise what it cannot keep. main needs no critical: its end ends the container anyway.
 */
function criticalNeverActs(service: Raw): string | null {
  if (service.critical !== true || service.main === true) return null;
  const restart = service.restart;
  const long = record(restart);
  const policy = typeof restart === 'string' ? restart : typeof long?.policy === 'string' ? long.policy : service.type === 'oneshot' ? 'never' : 'always';
  if (policy !== 'always' && policy !== 'on-failure') return null;
  if (long?.limit !== undefined && long.limit !== null) return null;
  const what = policy === 'always' ? 'restart: always' : 'restart: on-failure';
  return `critical can never act: with ${what} and no restart limit the service restarts forever and never gives up; add restart: { policy: ${policy}, limit: { count: 5, window: 1m } }, or use restart: never`;
}

function checkProbeKinds(
  probe: unknown,
  path: readonly PropertyKey[],
  kinds: readonly string[],
  report: (path: readonly PropertyKey[], message: string) => void,
): void {
  const map = record(probe);
  if (!map) return;
  const present = kinds.filter((kind) => map[kind] !== undefined);
  if (present.length === 1) return;
  const expected = `expected exactly one of ${kinds.join(' | ')}`;
  report(path, present.length === 0 ? `${expected}, got none` : `${expected}, got ${present.join(' and ')}`);
}
