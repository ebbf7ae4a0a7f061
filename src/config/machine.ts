// What only the machine can say about a manifest: a command that is not on PATH, a user or
// group its databases do not know, a cwd that does not exist. Each would make the service
// fail to start (fatal at once), so `tend check` warns — warnings, not errors, since a setup
// oneshot may create them before the service starts. config does not look at the machine
// itself: the caller passes a probe in (src/roots/check.ts).
import { resolve } from 'node:path';
import type { ConfigIssue } from './issues';
import { joinPath } from './issues';
import { locate, type SourceFor } from './source';
import type { Manifest } from './schema';

export interface MachineProbe {
  /** `command` (a name looked up on `path`, or a path resolved from `cwd`) exists and may be executed. */
  commandFound(command: string, path: string, cwd: string): boolean;
  userExists(name: string): boolean;
  groupExists(name: string): boolean;
  directoryExists(path: string): boolean;
}

export interface MachineInput {
  readonly manifest: Manifest;
  readonly sourceFor: SourceFor;
  /** The directory each service's relative paths resolve from. */
  readonly dirOf: (service: string) => string;
  /** Each service's own environment layer (env_file, env), where PATH may be set. */
  readonly env: ReadonlyMap<string, Readonly<Record<string, string>>>;
  readonly tendPath: string;
}

const MAYBE_LATER = 'it fails to start unless something creates it first';

export function machineWarnings(input: MachineInput, probe: MachineProbe): ConfigIssue[] {
  const warnings: ConfigIssue[] = [];
  const warn = (path: readonly PropertyKey[], message: string) => {
    const source = input.sourceFor(path);
    warnings.push({ file: source.file, ...locate(source, path, 'value'), path: joinPath(path), message });
  };
  for (const [name, service] of Object.entries(input.manifest.services)) {
    const dir = input.dirOf(name);
    const cwd = service.cwd === undefined ? null : resolve(dir, service.cwd);
    // A string command runs through /bin/sh: what it runs is the shell's to find.
    const argv0 = service.command.shell ? null : service.command.argv[0];
    if (argv0 !== undefined && argv0 !== null && argv0 !== '') {
      const path = input.env.get(name)?.PATH ?? input.tendPath;
      if (!probe.commandFound(argv0, path, cwd ?? process.cwd())) {
        warn(['services', name, 'command', 0], argv0.includes('/')
          ? `${argv0} does not exist or cannot be executed; ${MAYBE_LATER}`
          : `command "${argv0}" is not on PATH${input.env.get(name)?.PATH !== undefined ? ' (the PATH its env sets)' : ''}; ${MAYBE_LATER}`);
      }
    }
    if (typeof service.user === 'string' && !/^[0-9]+$/.test(service.user) && !probe.userExists(service.user)) {
      warn(['services', name, 'user'], `user "${service.user}" is not in the passwd database; ${MAYBE_LATER}`);
    }
    if (typeof service.group === 'string' && !/^[0-9]+$/.test(service.group) && !probe.groupExists(service.group)) {
      warn(['services', name, 'group'], `group "${service.group}" is not in the group database; ${MAYBE_LATER}`);
    }
    if (cwd !== null && !probe.directoryExists(cwd)) warn(['services', name, 'cwd'], `directory ${cwd} does not exist; ${MAYBE_LATER}`);
  }
  return warnings;
}
