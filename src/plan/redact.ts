// The Plan as a JSON document for `tend check --json` (and anything else that shows a
// plan): environment values are replaced, because they may be secrets (README: Control socket), and
// every command or URL that took something from tend's environment is shown with those
// parts written as `${NAME}`.
import type { CommandSpec, Plan, ProbeCheck } from './types';

export const REDACTED = '(redacted)';

/** argv as it may be printed. */
export function shownArgv(command: CommandSpec): readonly string[] {
  return command.shown ?? command.argv;
}

/** A command in one line as it may be printed: the shell string, or the argv joined. */
export function shownCommand(command: CommandSpec): string {
  const argv = shownArgv(command);
  return command.shell ? argv[2]! : argv.join(' ');
}

function command(spec: CommandSpec): CommandSpec {
  return { argv: shownArgv(spec), shell: spec.shell };
}

function check<C extends ProbeCheck>(probe: C): C {
  if (probe.kind === 'command') return { ...probe, command: command(probe.command) };
  if (probe.kind === 'http') return { kind: 'http', url: probe.shown ?? probe.url } as C;
  return probe;
}

export function redactedPlan(plan: Plan): unknown {
  return {
    ...plan,
    services: plan.services.map((service) => ({
      ...service,
      command: command(service.command),
      ready: service.ready && { ...service.ready, check: check(service.ready.check) },
      healthcheck: service.healthcheck && { ...service.healthcheck, check: check(service.healthcheck.check) },
      stopCommand: service.stopCommand && command(service.stopCommand),
      env: Object.fromEntries(Object.keys(service.env).map((key) => [key, REDACTED])),
    })),
  };
}
