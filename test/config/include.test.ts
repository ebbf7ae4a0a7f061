// include: (SPEC §9): globs relative to the manifest, services joined, duplicates and
// errors located in the file they are in, settings only in the main file.
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadPlan, formatIssue } from '../../src/plan/index';
import { canUnshare, runTendSync, tempDir, waitFor } from '../helpers/tend';
import { scenario } from '../supervisor/scenario';
import { ensureBuilt } from '../helpers/build';
import { withCgroup, yaml } from './manifest';

/** Writes `files` (relative paths → text) into a fresh directory. */
function tree(files: Record<string, string>): string {
  const dir = tempDir('tend-include-');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Loads dir/tend.yaml; issue lines with the directory left out, as a user in it sees them. */
async function load(dir: string) {
  const result = await loadPlan(join(dir, 'tend.yaml'), {}, withCgroup);
  const strip = (line: string) => line.split(`${dir}/`).join('');
  return result.ok
    ? { ok: true as const, plan: result.plan, files: result.files.map(strip), includes: result.includes }
    : { ok: false as const, issues: result.issues.map((issue) => strip(formatIssue(issue))) };
}

const base = yaml`
  include: ["tend.d/*.yaml"]
  services:
    app:
      command: ["sleep", "100"]
      main: true
`;

describe('include:', () => {
  beforeAll(ensureBuilt, 180_000);

  it('joins the services of every matching file, in name order, each resolving paths from its own directory', async () => {
    const dir = tree({
      'tend.yaml': base,
      'tend.d/20-worker.yaml': yaml`
        services:
          worker:
            command: worker
            env_file: worker.env
            cwd: data
            depends_on: [app]
      `,
      'tend.d/10-cron.yaml': yaml`
        x-common: &common { type: oneshot }
        services:
          report:
            <<: *common
            command: ["true"]
            schedule: "@daily"
      `,
      'tend.d/worker.env': 'QUEUE=jobs\n',
      'tend.d/.20-worker.yaml.swp': 'not yaml: [',
      'tend.d/notes.txt': 'not a manifest',
    });
    const result = await load(dir);
    expect(result).toMatchObject({ ok: true });
    if (!result.ok) return;
    expect(result.plan.services.map((s) => s.name)).toEqual(['app', 'report', 'worker']);
    const worker = result.plan.services.find((s) => s.name === 'worker')!;
    expect(worker.envFiles).toEqual([{ path: join(dir, 'tend.d', 'worker.env'), required: true }]);
    expect(worker.cwd).toBe(join(dir, 'tend.d', 'data'));
    expect(result.files).toEqual(['tend.yaml', 'tend.d/10-cron.yaml', 'tend.d/20-worker.yaml']);
  });

  it('reports a service defined twice with both places', async () => {
    const dir = tree({
      'tend.yaml': base,
      'tend.d/a.yaml': 'services:\n  worker:\n    command: a\n',
      'tend.d/b.yaml': '# second\nservices:\n  web:\n    command: b\n  worker:\n    command: b\n',
      'tend.d/c.yaml': 'services:\n  app:\n    command: c\n',
    });
    expect(await load(dir)).toEqual({
      ok: false,
      issues: [
        'tend.d/b.yaml:5:3: services.worker: service "worker" is defined twice: here and at tend.d/a.yaml:2:3',
        'tend.d/c.yaml:2:3: services.app: service "app" is defined twice: here and at tend.yaml:3:3',
      ],
    });
  });

  it('locates an error inside an included file in that file, and rules that span files across them', async () => {
    const dir = tree({
      'tend.yaml': base,
      'tend.d/web.yaml': yaml`
        services:
          web:
            command: ["nginx"]
            restart: sometimes
            depends_on: { app: { condition: ready }, db: {} }
      `,
    });
    expect(await load(dir)).toEqual({
      ok: false,
      issues: [
        'tend.d/web.yaml:4:14: services.web.restart: expected always | on-failure | never, got "sometimes"',
        'tend.d/web.yaml:5:37: services.web.depends_on.app.condition: "app" has no ready probe; add ready: to "app" or use condition: started',
        'tend.d/web.yaml:5:46: services.web.depends_on.db: unknown service "db"',
      ],
    });
  });

  it('keeps settings and include to the main file, and names a plain path that does not exist', async () => {
    const dir = tree({
      'tend.yaml': yaml`
        include: [tend.d/*.yaml, extra.yaml]
        services:
          app: { command: x }
      `,
      'tend.d/a.yaml': 'settings:\n  log_level: debug\ninclude: ["more/*.yaml"]\nservice:\n  b: { command: b }\n',
      'tend.d/b.yaml': '[1, 2]\n',
      'tend.d/c.yaml': 'services:\n  c: { command: c, restart: 3 }\n',
    });
    const result = await load(dir);
    expect(result).toEqual({
      ok: false,
      issues: [
        'tend.yaml:1:26: include.1: cannot read included file extra.yaml: no such file',
        'tend.d/a.yaml:1:1: settings: settings: belong in the main manifest (tend.yaml), not in an included file',
        'tend.d/a.yaml:3:1: include: include: is read only in the main manifest (tend.yaml)',
        'tend.d/a.yaml:4:1: service: unknown key; an included file has services: (and x- keys) only; did you mean "services"?',
        'tend.d/b.yaml:1:1: expected a map with services:',
        'tend.d/c.yaml:2:29: services.c.restart: expected always | on-failure | never, got 3',
      ],
    });
  });

  it('allows a glob that matches nothing, and tend check says so and lists the files it read', () => {
    const dir = tree({ 'tend.yaml': yaml`
      include: ["tend.d/*.yaml", "conf.d/*.yml"]
      services:
        app: { command: ["true"], main: true }
    `, 'conf.d/one.yml': 'services:\n  one: { command: ["true"] }\n' });
    const check = runTendSync(['check', '-c', 'tend.yaml'], { cwd: dir });
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain('files read:\n  tend.yaml\n  conf.d/one.yml\n  (include "tend.d/*.yaml" matched no file)\n');
    expect(check.stdout).toMatch(/services:\n\s+app\s.*\n\s+one\s/);
  });
});

describe.skipIf(!canUnshare())('include: on reload', () => {
  it('reads a file added to tend.d/ since the start, and stops a service whose file was removed', async () => {
    const t = scenario(yaml`
      include: tend.d/*.yaml
      services:
        app: { main: true, command: [svc, app] }
    `);
    mkdirSync(join(t.dir, 'tend.d'));
    writeFileSync(join(t.dir, 'tend.d', 'a.yaml'), 'services:\n  a: { command: [svc, a], depends_on: [app] }\n');
    const tend = t.start();
    await waitFor(() => t.events().includes('start a'), { what: () => `a to start:\n${tend.stderr}` });

    writeFileSync(join(t.dir, 'tend.d', 'b.yaml'), 'services:\n  b: { command: [svc, b] }\n');
    rmSync(join(t.dir, 'tend.d', 'a.yaml'));
    const reloaded = t.cli('reload');
    expect(reloaded.stderr).toBe('');
    expect(reloaded.code).toBe(0);
    await waitFor(() => t.events().includes('start b') && t.events().includes('stop a'), { what: () => `b to start, a to stop:\n${t.events().join('\n')}` });

    // A broken included file changes nothing and says where the problem is.
    writeFileSync(join(t.dir, 'tend.d', 'c.yaml'), 'services:\n  c: { command: [svc, c], restart: sometimes }\n');
    const refused = t.cli('reload');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('tend.d/c.yaml:2:36: services.c.restart: expected always | on-failure | never, got "sometimes"');
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
  });
});
