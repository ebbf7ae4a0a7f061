import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadPlan, formatIssue } from '../../src/plan/index';
import { planOf, writeDir, yaml } from './manifest';

describe('service environment', () => {
  it('env: values are strings, null takes tend\'s value; env_files are kept as paths (read at each start)', async () => {
    const plan = await planOf(yaml`
      services:
        web:
          command: x
          env_file: [base.env, { path: local.env, required: false }]
          env:
            PORT: 8080
            DEBUG: true
            FROM_TEND: null
            NOT_IN_TEND: null
            OVERRIDE: env
    `, { FROM_TEND: 'tend-value' }, {
      'base.env': 'A=base\nOVERRIDE=base\nNOT_IN_TEND=file\n',
    });
    const web = plan.services[0]!;
    expect(web.env).toEqual({ PORT: '8080', DEBUG: 'true', FROM_TEND: 'tend-value', OVERRIDE: 'env' });
    expect(web.envFiles).toEqual([
      { path: join(plan.file!, '..', 'base.env'), required: true },
      { path: join(plan.file!, '..', 'local.env'), required: false },
    ]);
    // An env_file value of a variable env: names as null, unset in tend: unset, as before.
    expect(web.envCleared).toEqual(['NOT_IN_TEND']);
  });

  it('does not copy tend\'s own environment into the service layer', async () => {
    const plan = await planOf('services:\n  a: { command: x }\n', { SECRET: 's' });
    expect(plan.services[0]!.env).toEqual({});
  });

  it('resolves env_file, log.file and cwd from the manifest directory', async () => {
    const { dir, file } = writeDir(yaml`
      services:
        web:
          command: x
          env_file: conf/app.env
          cwd: srv
          log: { file: logs/web.log }
    `);
    mkdirSync(join(dir, 'conf'));
    writeFileSync(join(dir, 'conf', 'app.env'), 'K=v\n');
    // Run from elsewhere: resolution must not depend on tend's cwd.
    const result = await loadPlan(file, {});
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const web = result.plan.services[0]!;
    expect(web.envFiles).toEqual([{ path: join(dir, 'conf', 'app.env'), required: true }]);
    expect(web.cwd).toBe(join(dir, 'srv'));
    expect(web.log.file).toBe(join(dir, 'logs', 'web.log'));
  });

  it('reports a missing required env_file at its position, with the path it tried and the two ways out', async () => {
    const { dir, file } = writeDir(yaml`
      services:
        web:
          command: x
          env_file: [present.env, missing.env, { path: optional.env, required: false }]
    `, { 'present.env': 'A=1\n' });
    const result = await loadPlan(file, {});
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => formatIssue({ ...i, file: 'tend.yaml' }))).toEqual([
      `tend.yaml:4:29: services.web.env_file.1: cannot read env_file ${join(dir, 'missing.env')}: no such file; if a oneshot writes it, make "web" depend on that oneshot (depends_on: { NAME: { condition: completed } }), or if it may be missing, write { path: missing.env, required: false }`,
    ]);
  });

  it('a missing required env_file is only a warning when a oneshot the service depends on (directly or not) runs first', async () => {
    const { dir, file } = writeDir(yaml`
      services:
        setup: { command: x, type: oneshot }
        db: { command: x, depends_on: { setup: { condition: completed } } }
        web:
          command: x
          depends_on: [db]
          env_file: /nonexistent/generated.env
        lonely:
          command: x
          env_file: later.env
    `);
    const result = await loadPlan(file, {});
    expect(result.ok).toBe(false);
    if (result.ok) return;
    // lonely depends on no oneshot: an error; web's is a warning naming who may write it.
    expect(result.issues.map((i) => formatIssue({ ...i, file: 'tend.yaml' }))).toEqual([
      `tend.yaml:10:15: services.lonely.env_file: cannot read env_file ${join(dir, 'later.env')}: no such file; if a oneshot writes it, make "lonely" depend on that oneshot (depends_on: { NAME: { condition: completed } }), or if it may be missing, write { path: later.env, required: false }`,
    ]);
    expect(result.warnings.map((i) => formatIssue({ ...i, file: 'tend.yaml' }))).toEqual([
      'tend.yaml:7:15: services.web.env_file: env_file /nonexistent/generated.env does not exist yet; it is read at each start, after "setup" (a oneshot "web" depends on) has run',
    ]);
  });

  it('an env_file that exists but is not a readable regular file is an error, required or not', async () => {
    const { dir, file } = writeDir(yaml`
      services:
        web:
          command: x
          env_file: [{ path: conf, required: false }]
    `);
    mkdirSync(join(dir, 'conf'));
    const result = await loadPlan(file, {});
    expect(result.ok ? [] : result.issues.map((i) => formatIssue({ ...i, file: 'tend.yaml' }))).toEqual([
      `tend.yaml:4:16: services.web.env_file.0: cannot read env_file ${join(dir, 'conf')}: it is a directory`,
    ]);
  });

  it('never prints environment values in error messages', async () => {
    const { file } = writeDir(yaml`
      services:
        web:
          command: x
          env: { PASSWORD: [hunter2] }
    `);
    const result = await loadPlan(file, {});
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const text = result.issues.map(formatIssue).join('\n');
    expect(text).toContain('services.web.env.PASSWORD');
    expect(text).not.toContain('hunter2');
  });
});
