import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadPlan, formatIssue } from '../../src/plan/index';
import { planOf, writeDir, yaml } from './manifest';

describe('service environment', () => {
  it('layers env_files in order, then env; null takes tend\'s value; values are strings', async () => {
    const plan = await planOf(yaml`
      services:
        web:
          command: x
          env_file: [base.env, local.env]
          env:
            PORT: 8080
            DEBUG: true
            FROM_TEND: null
            NOT_IN_TEND: null
            OVERRIDE: env
    `, { FROM_TEND: 'tend-value' }, {
      'base.env': 'A=base\nOVERRIDE=base\nNOT_IN_TEND=file\n# comment\nQUOTED="two words"\n',
      'local.env': 'A=local\n',
    });
    expect(plan.services[0]!.env).toEqual({
      A: 'local', OVERRIDE: 'env', QUOTED: 'two words', PORT: '8080', DEBUG: 'true', FROM_TEND: 'tend-value',
    });
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
    expect(web.env).toEqual({ K: 'v' });
    expect(web.cwd).toBe(join(dir, 'srv'));
    expect(web.log.file).toBe(join(dir, 'logs', 'web.log'));
  });

  it('reports a missing env_file at its position, with the path it tried', async () => {
    const { dir, file } = writeDir(yaml`
      services:
        web:
          command: x
          env_file: [present.env, missing.env]
    `, { 'present.env': 'A=1\n' });
    const result = await loadPlan(file, {});
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => formatIssue({ ...i, file: 'tend.yaml' }))).toEqual([
      `tend.yaml:4:29: services.web.env_file.1: cannot read env_file ${join(dir, 'missing.env')}: no such file`,
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
