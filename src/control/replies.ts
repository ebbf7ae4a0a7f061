// The schemas of what the server sends, for the client (src/control/client.ts): tend run
// never loads them. Objects are loose: a newer server may add fields and an older client
// must still read what it knows.
import { z } from 'zod';
import { HEALTH_STATES, SERVICE_STATES } from './api';
import { requestSchemas } from './protocol';

const { id } = requestSchemas();
const stateName = z.enum(SERVICE_STATES);
const healthName = z.enum(HEALTH_STATES);
const lastExit = z.union([z.looseObject({ code: z.number() }), z.looseObject({ signal: z.string() })]);
const strings = z.array(z.string());
const actionResult = z.looseObject({ services: z.array(z.looseObject({ name: z.string(), state: stateName, changed: z.boolean() })) });

export const resultSchemas = {
  status: z.looseObject({
    services: z.array(z.looseObject({
      name: z.string(),
      type: z.enum(['longrun', 'oneshot', 'forking']),
      main: z.boolean(),
      state: stateName,
      pid: z.number().nullable(),
      since: z.number().nullable(),
      uptime_ms: z.number().nullable(),
      restarts: z.number(),
      last_exit: lastExit.nullable(),
      health: healthName,
      processes: z.array(z.number()),
      process_info: z.array(z.looseObject({ pid: z.number(), command: z.string().nullable(), escaped: z.boolean() })).optional(),
      reason: z.string().nullable().optional(),
      next_start: z.number().nullable().optional(),
      status_text: z.string().nullable().optional(),
    })),
    orphans: z.array(z.number()),
    shutting_down: z.boolean(),
  }),
  health: z.looseObject({ healthy: z.boolean(), reason: z.string(), shutting_down: z.boolean() }),
  start: actionResult,
  stop: actionResult,
  restart: actionResult,
  signal: z.looseObject({ name: z.string(), signal: z.string(), pids: z.array(z.number()) }),
  wait: z.looseObject({ name: z.string(), state: stateName }),
  logs: z.looseObject({ lines: z.array(z.looseObject({ service: z.string(), stream: z.enum(['stdout', 'stderr']), time: z.number(), line: z.string() })) }),
  reload: z.looseObject({ added: strings, removed: strings, changed: strings, unchanged: strings, pending: strings }),
  shutdown: z.looseObject({ already: z.boolean() }),
  version: z.looseObject({ tend: z.string(), protocol: z.number(), pid: z.number() }),
  events: z.looseObject({}),
  'exec-plan': z.looseObject({
    name: z.string(),
    user: z.union([z.string(), z.number()]).nullable(),
    group: z.union([z.string(), z.number()]).nullable(),
    cwd: z.string().nullable(),
    env: z.record(z.string(), z.string()),
    cgroup: z.string().nullable(),
    joins: strings,
    nofile: z.number().nullable(),
    core: z.number().nullable(),
    oom_score_adj: z.number().nullable(),
    umask: z.number().nullable(),
    tend_uid: z.number(),
    tend_gid: z.number(),
    pid: z.number().nullable(),
  }),
};

/** Any line the server sends. The error code is read as a string: a newer server may know more. */
export const serverLineSchema = z.union([
  z.object({ id: id.nullable(), ok: z.literal(true), result: z.unknown() }),
  z.object({ id: id.nullable(), ok: z.literal(false), error: z.object({ code: z.string(), message: z.string(), problems: strings.optional() }) }),
  z.object({ id, event: z.unknown() }),
]);

