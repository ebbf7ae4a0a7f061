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

const VARIABLE = /\$\{[A-Za-z_][A-Za-z0-9_]*\}/g;

/**
 * Redacts command lines read from /proc (`tend status -v`): every word of the plan's commands
 * that took something from tend's environment is replaced by the word as it may be shown
 * (`--token=${API_TOKEN}`), and each value it took — wherever it appears, as a service's
 * shell passes it on to the programs it runs — by its `${NAME}`.
 */
export function commandRedactor(plan: Plan): (text: string) => string {
  const words = new Map<string, string>();
  const values = new Map<string, string>();
  const commands = plan.services.flatMap((service) => [
    service.command, service.stopCommand,
    service.ready?.check.kind === 'command' ? service.ready.check.command : null,
    service.healthcheck?.check.kind === 'command' ? service.healthcheck.check.command : null,
  ]);
  for (const command of commands) {
    if (command?.shown === undefined) continue;
    command.argv.forEach((word, index) => {
      const shown = command.shown![index]!;
      if (word === shown) return;
      words.set(word, shown);
      for (const [value, name] of takenValues(word, shown)) values.set(value, name);
    });
  }
  if (words.size === 0) return (text) => text;
  // Longest first, so a value that contains another is replaced whole. A word only where it
  // stands as one (between spaces): a short one would be found inside others.
  const byLength = ([a]: [string, string], [b]: [string, string]) => b.length - a.length;
  const wholeWords = [...words].sort(byLength).map(([word, shown]) => [new RegExp(`(?<=^| )${escapeRegExp(word)}(?= |$)`, 'g'), shown] as const);
  const inner = [...values].sort(byLength);
  return (text) => {
    const asWords = wholeWords.reduce((out, [word, shown]) => out.replace(word, () => shown), text);
    return inner.reduce((out, [value, shown]) => out.split(value).join(shown), asWords);
  };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The values a shown word's `${NAME}` parts stand for in the real word (value → `${NAME}`). */
function takenValues(word: string, shown: string): Array<[string, string]> {
  const names = shown.match(VARIABLE) ?? [];
  const literals = shown.split(VARIABLE).map(escapeRegExp);
  const match = new RegExp(`^${literals.join('([\\s\\S]*?)')}$`).exec(word);
  if (match === null) return [];
  // A value of one or two characters would be found everywhere; the word itself is still replaced.
  return names.flatMap((name, index) => {
    const value = match[index + 1] ?? '';
    return value.length >= 3 ? [[value, name] as [string, string]] : [];
  });
}
