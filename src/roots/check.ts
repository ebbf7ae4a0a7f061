// `tend check`: validate the manifest and show the plan tend would run — or every
// mistake, located, and exit 2. `tend schema`: the manifest's JSON Schema.
import {
  loadPlan, formatIssue, resolveManifestPath, redactedPlan, type ConfigIssue, type IncludeMatch, type Plan, type ServicePlan,
} from '../plan/index';
import { manifestJsonSchema } from '../config/schema';
import { signalName } from '../vocab/signals';
import { EXIT_OK, EXIT_USAGE } from '../vocab/exit';
import { writableCgroup2 } from '../process/cgroup';
import { CONTROLLERS, surveyBackends } from '../process/limits';
import { size as formatSize } from '../vocab/format';
import type { MachineProbe } from '../config/machine';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';


export async function runCheck(command: { config: string | null; json: boolean }): Promise<number> {
  const where = resolveManifestPath(command.config, process.env);
  if (!where.ok) {
    process.stderr.write(`tend: ${where.message}\n`);
    return EXIT_USAGE;
  }
  const result = await loadPlan(where.path, process.env, { cgroupWritable: writableCgroup2, machine: MACHINE });
  writeWarnings(result.warnings);
  if (!result.ok) {
    process.stderr.write(result.issues.map((issue) => `${formatIssue(issue)}\n`).join(''));
    const count = result.issues.length;
    process.stderr.write(`tend: ${where.path}: ${count} ${count === 1 ? 'problem' : 'problems'}; nothing was started\n`);
    return EXIT_USAGE;
  }
  process.stdout.write(command.json
    ? `${JSON.stringify({ ...(redactedPlan(result.plan) as object), files: result.files }, null, 2)}\n`
    : describePlan(where.path, result.plan) + describeFiles(result.files, result.includes));
  return EXIT_OK;
}

const executable = (file: string): boolean => {
  try {
    return statSync(file).isFile() && (accessSync(file, constants.X_OK), true);
  } catch {
    return false;
  }
};

/** The first field of each line of a colon-separated database (/etc/passwd, /etc/group). */
const namesIn = (file: string): Set<string> | null => {
  try {
    return new Set(readFileSync(file, 'utf8').split('\n').map((line) => line.split(':')[0]!).filter((name) => name !== '' && !name.startsWith('#')));
  } catch {
    return null;
  }
};

/** What `tend check` asks of this machine (config/machine.ts words the warnings). */
const MACHINE: MachineProbe = {
  commandFound: (command, path, cwd) => command.includes('/')
    ? executable(resolve(cwd, command))
    : path.split(delimiter).some((dir) => dir !== '' && executable(join(dir, command))),
  // Only the files: a container's users are there (no NSS service to ask); a missing file says nothing.
  userExists: (name) => namesIn('/etc/passwd')?.has(name) ?? true,
  groupExists: (name) => namesIn('/etc/group')?.has(name) ?? true,
  directoryExists: (path) => {
    try {
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  },
};

export function runSchema(): number {
  process.stdout.write(`${JSON.stringify(manifestJsonSchema(), null, 2)}\n`);
  return EXIT_OK;
}

function writeWarnings(warnings: readonly ConfigIssue[]): void {
  for (const warning of warnings) process.stderr.write(`${formatIssue({ ...warning, message: `warning: ${warning.message}` })}\n`);
}

/** The plan for a person: what starts when, what is main, and how each service behaves. */
export function describePlan(file: string, plan: Plan): string {
  const lines: string[] = [];
  const count = plan.services.length;
  lines.push(`${file}: ok, ${count} ${count === 1 ? 'service' : 'services'}, main: ${plan.main ?? '(none: tend runs until stopped or nothing is left to run)'}`);
  lines.push('', 'start waves:');
  plan.startWaves.forEach((wave, index) => lines.push(`  ${index + 1}. ${wave.join(', ')}`));
  lines.push('', 'stop waves:');
  plan.stopWaves.forEach((wave, index) => lines.push(`  ${index + 1}. ${wave.join(', ')}`));
  lines.push('', 'services:');
  const width = Math.max(...plan.services.map((s) => s.name.length));
  for (const service of plan.services) {
    lines.push(`  ${service.name.padEnd(width)}  ${traits(service).join(', ')}`);
  }
  const used = CONTROLLERS.filter((c) => plan.services.some((s) => s.limits[c] !== null));
  if (used.length > 0) {
    // Where tend would put them on this machine (tend check changes nothing to find out).
    const survey = surveyBackends({ noCgroups: plan.settings.tracking === 'proc' });
    lines.push('', 'limits here:');
    for (const c of used) lines.push(`  ${c}: ${survey.get(c)!}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Which files the plan came from — with `include:`, what a derived image added — and each
 * include that matched nothing, which is allowed but worth seeing.
 */
export function describeFiles(files: readonly string[], includes: readonly IncludeMatch[]): string {
  if (includes.length === 0) return '';
  const lines = ['', 'files read:', ...files.map((file) => `  ${file}`)];
  for (const include of includes) {
    if (include.files.length === 0) lines.push(`  (include "${include.pattern}" matched no file)`);
  }
  return `${lines.join('\n')}\n`;
}

function traits(service: ServicePlan): string[] {
  const out: string[] = [service.main ? `${service.type} (main)` : service.type];
  out.push(`restart ${service.restart.policy}${service.restart.limit ? ` (at most ${service.restart.limit.count} in ${seconds(service.restart.limit.window)})` : ''}`);
  if (service.dependsOn.length > 0) out.push(`after ${service.dependsOn.map((d) => `${d.name} ${d.condition}`).join(', ')}`);
  if (service.ready) out.push(`ready: ${service.ready.check.kind}`);
  if (service.healthcheck) out.push(`healthcheck: ${service.healthcheck.check.kind} every ${seconds(service.healthcheck.interval)}`);
  if (service.schedule) {
    const job = service.job;
    out.push(`schedule "${service.schedule}"${job?.timeZone ? ` in ${job.timeZone}` : ''}${job !== undefined && job.concurrency !== 'forbid' ? ` (concurrency ${job.concurrency})` : ''}`);
  }
  if (service.job?.timeout != null) out.push(`timeout ${seconds(service.job.timeout)}`);
  if (!service.autostart) out.push('autostart off');
  if (service.critical) out.push('critical');
  if (service.user !== null) out.push(`user ${service.user}`);
  if (service.umask !== null) out.push(`umask ${service.umask.toString(8).padStart(4, '0')}`);
  if (service.runtimeDirectory !== null) out.push(`runtime_directory ${service.runtimeDirectory}`);
  if (service.envFiles.length > 0) out.push(`env_file ${service.envFiles.map((f) => (f.required ? f.path : `${f.path} (if present)`)).join(', ')}`);
  const { memory, cpu, pids, nofile, core } = service.limits;
  const limits = [
    memory === null ? null : `memory ${formatSize(memory)}`, cpu === null ? null : `cpu ${cpu}`, pids === null ? null : `pids ${pids}`,
    nofile === null ? null : `nofile ${nofile}`, core === null ? null : `core ${core < 0 ? 'unlimited' : formatSize(core)}`,
  ].filter((part) => part !== null);
  if (limits.length > 0) out.push(`limits ${limits.join(' ')}`);
  if (service.oomScoreAdj !== null) out.push(`oom_score_adj ${service.oomScoreAdj}`);
  if (service.preStart != null) out.push('pre_start');
  if (service.postStop != null) out.push('post_stop');
  out.push(`stop ${service.stopCommand ? 'by stop_command' : signalName(service.stopSignal)} (stop_mode ${service.stopMode}) then SIGKILL after ${seconds(service.stopTimeout)}`);
  return out;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
