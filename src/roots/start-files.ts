// What `tend run` keeps about each start of a service beyond the supervisor's state: what
// its env_files gave its process (a reload restarts it when they give something else now)
// and the runtime directory made for it (removed once the service has no run, as systemd's
// RuntimeDirectory=).
import { rmSync } from 'node:fs';
import type { Plan } from '../plan/types';
import { envFilesDigest, withEnvFiles } from '../process/env-files';
import type { Spawned, SpawnSpec } from '../process/spawn';
import type { CoreState } from '../supervisor/core';
import type { SupervisorEvent } from '../supervisor/loop';
import type { TendLogger } from '../supervisor/logs';
import * as say from '../log/messages';

/** States in which a service has no run: its runtime directory goes. */
const NO_RUN = new Set(['stopped', 'backoff', 'exited', 'fatal', 'completed', 'failed']);

export interface StartFiles {
  /** The spawner with each spec's env_files read first. */
  readonly spawn: (spec: SpawnSpec) => Spawned;
  /** Services up now whose env_files give something else than their process got (a reload restarts them). */
  envChanged(next: Plan, state: CoreState): string[];
  /** Each published change: a service that has no run any more loses its runtime directory. */
  onChange(event: SupervisorEvent, state: CoreState): void;
}

export function startFiles(spawn: (spec: SpawnSpec) => Spawned, log: TendLogger): StartFiles {
  const seen = new Map<string, string>();
  const made = new Map<string, string>();
  return {
    spawn: withEnvFiles((spec) => {
      // Its own process or its pre_start, whichever makes it first.
      if (spec.runtimeDirectory != null) made.set(spec.service, spec.runtimeDirectory);
      return spawn(spec);
    }, (spec, digest) => seen.set(spec.service, digest)),
    envChanged(next, state) {
      return next.services.flatMap((service) => {
        const record = state.services.get(service.name);
        const got = seen.get(service.name);
        if (record === undefined || got === undefined || NO_RUN.has(record.state.id)) return [];
        // Unreadable now: the running process keeps what it has; its next start says why.
        const now = envFilesDigest(service.envFiles, service.envCleared);
        return now !== null && now !== got ? [service.name] : [];
      });
    },
    onChange(event, state) {
      if (event.type !== 'state') return;
      const dir = made.get(event.service);
      const record = state.services.get(event.service);
      // The state now, not the change's: a step may already have started the next run.
      if (dir === undefined || (record !== undefined && !NO_RUN.has(record.state.id))) return;
      made.delete(event.service);
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch (error) {
        // A parent that is not a directory: it was never made (that start failed for it).
        if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        log.warn(say.runtimeDirectoryKept(event.service, dir, error instanceof Error ? error.message : String(error)));
      }
    },
  };
}
