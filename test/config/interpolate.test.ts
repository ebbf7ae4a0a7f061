import { describe, expect, it } from 'vitest';
import { interpolate } from '../../src/config/interpolate';
import { issuesOf, planOf, yaml } from './manifest';

const env = { HOST: 'db.local', EMPTY: '', PORT: '5432' };

function value(text: string): string {
  const result = interpolate(text, env);
  if (!result.ok) throw new Error(result.message);
  return result.value;
}

describe('interpolate (docker compose semantics)', () => {
  it('substitutes ${VAR} and $VAR', () => {
    expect(value('postgres://${HOST}:$PORT/app')).toBe('postgres://db.local:5432/app');
  });

  it('uses a default when unset or empty with :-, only when unset with -', () => {
    expect(value('${MISSING:-fallback}')).toBe('fallback');
    expect(value('${EMPTY:-fallback}')).toBe('fallback');
    expect(value('${EMPTY-fallback}')).toBe('');
    expect(value('${HOST:-fallback}')).toBe('db.local');
    expect(value('${MISSING:-${HOST}}')).toBe('db.local');
  });

  it('fails with the message for a required variable', () => {
    expect(interpolate('${TOKEN:?set TOKEN to the API token}', env)).toEqual({ ok: false, message: 'required variable TOKEN is unset: set TOKEN to the API token' });
    expect(interpolate('${EMPTY:?}', env)).toEqual({ ok: false, message: 'required variable EMPTY is empty' });
    expect(value('${EMPTY?must be set}')).toBe('');
  });

  it('substitutes an alternative with :+ and +', () => {
    expect(value('${HOST:+--host=${HOST}}')).toBe('--host=db.local');
    expect(value('${EMPTY:+x}')).toBe('');
    expect(value('${EMPTY+x}')).toBe('x');
  });

  it('turns $$ into a literal $ and does not expand what follows', () => {
    expect(value('echo $$HOME costs $$5')).toBe('echo $HOME costs $5');
  });

  it('reads an unset variable as empty and lists it', () => {
    expect(interpolate('a${NOPE}b$NOPE', env)).toEqual({ ok: true, value: 'ab', unset: ['NOPE', 'NOPE'] });
  });

  it('rejects a lone $ and an unterminated ${', () => {
    expect(interpolate('price: 5$', env)).toEqual({ ok: false, message: 'invalid interpolation at "$"; write $$ for a literal $' });
    expect(interpolate('${HOST', env).ok).toBe(false);
    expect(interpolate('${1abc}', env).ok).toBe(false);
  });
});

describe('interpolation in a manifest', () => {
  it('applies to string values (commands, env, paths) using the env passed in', async () => {
    const plan = await planOf(yaml`
      services:
        web:
          command: serve --port \${PORT:-8080} --name $$USER
          env: { DB: "\${HOST}" }
          stop_timeout: \${STOP:-3s}
    `, { HOST: 'db' });
    const web = plan.services[0]!;
    expect(web.command.argv).toEqual(['/bin/sh', '-c', 'serve --port 8080 --name $USER']);
    expect(web.env).toEqual({ DB: 'db' });
    expect(web.stopTimeout).toBe(3000);
  });

  it('reports a required variable at its position without printing values', async () => {
    expect(await issuesOf(yaml`
      services:
        web:
          command: run
          env:
            TOKEN: \${API_TOKEN:?set API_TOKEN}
    `)).toEqual(['tend.yaml:5:14: services.web.env.TOKEN: required variable API_TOKEN is unset: set API_TOKEN']);
  });

  it('warns about an unset variable and substitutes an empty string', async () => {
    const { loadPlan } = await import('../../src/plan/index');
    const { writeDir } = await import('./manifest');
    const { file } = writeDir('services:\n  a:\n    command: echo "[${UNSET_VAR}]"\n');
    const result = await loadPlan(file, {});
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.plan.services[0]!.command.argv[2]).toBe('echo "[]"');
    expect(result.warnings.map((w) => `${w.line}:${w.col}: ${w.path}: ${w.message}`)).toEqual(['3:14: services.a.command: variable UNSET_VAR is not set; using an empty string']);
  });
});
