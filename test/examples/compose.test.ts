// Every examples/*/docker-compose.yml passes `docker-compose config` (Debian package
// docker-compose, or the `docker compose` plugin) — which validates offline, no engine —
// and agrees with its tend.yaml: docker's stop grace outlasts tend's own shutdown
// (shutdown_delay + shutdown_timeout), nobody needs `init: true`, the HEALTHCHECK is
// `tend health`. Skips, saying why, when neither tool is installed.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseDuration } from '../../src/config/units';
import { tempDir, writeManifest } from '../helpers/tend';
import { EXAMPLES } from './helpers';

/** The compose command that works here: docker-compose (v1) or `docker compose` (v2). */
function composeTool(): readonly string[] | null {
  if (spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0) return ['docker-compose'];
  if (spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' }).status === 0) return ['docker', 'compose'];
  return null;
}

const tool = composeTool();
if (tool === null) console.warn('skipping docker-compose config checks: neither docker-compose nor the docker compose plugin is installed (apt-get install docker-compose)');

function config(file: string, env: NodeJS.ProcessEnv = {}) {
  const [command, ...prefix] = tool!;
  const result = spawnSync(command!, [...prefix, '-f', file, 'config'], {
    encoding: 'utf8',
    // No engine on this machine: `config` must not need one.
    env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent/docker.sock', ...env },
    timeout: 20_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const examples = readdirSync(EXAMPLES).filter((name) => existsSync(join(EXAMPLES, name, 'docker-compose.yml')));

interface ComposeService {
  init?: boolean;
  stop_grace_period?: string;
  healthcheck?: { test?: string[] };
  entrypoint?: string[];
}

/** tend's settings from an example's tend.yaml (${VAR:-default} taken at its default). */
function tendSettings(name: string): { delay: number; timeout: number } {
  const text = readFileSync(join(EXAMPLES, name, 'tend.yaml'), 'utf8');
  const settings = (parse(text) as { settings?: Record<string, string> }).settings ?? {};
  return {
    delay: parseDuration(settings.shutdown_delay ?? '0s') ?? 0,
    timeout: parseDuration(settings.shutdown_timeout ?? '9s') ?? 9000,
  };
}

describe.skipIf(tool === null)('docker-compose config', () => {
  it('finds the examples', () => {
    expect(examples.sort()).toEqual(['kubernetes', 'migrated-vm', 'sidecars', 'tini-replacement', 'vm-daemons']);
  });

  it('rejects a broken file (the check is real)', () => {
    const dir = tempDir('tend-compose-');
    const file = writeManifest(dir, 'services:\n  app:\n    image: tend:local\n    stop_grace_priod: 10s\n', 'docker-compose.yml');
    const result = config(file);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/stop_grace_priod/);
  });

  for (const name of examples) {
    it(`${name}/docker-compose.yml is valid and fits its tend.yaml`, () => {
      const result = config(join(EXAMPLES, name, 'docker-compose.yml'));
      expect(result.code, result.stderr).toBe(0);
      const services = (parse(result.stdout) as { services: Record<string, ComposeService> }).services;
      const { delay, timeout } = tendSettings(name);
      for (const [service, spec] of Object.entries(services)) {
        expect(spec.init, `${name}: ${service} needs no init: true`).toBeUndefined();
        // docker stop SIGKILLs after stop_grace_period (default 10s): tend must be done first.
        const grace = parseDuration(spec.stop_grace_period ?? '10s') ?? 0;
        expect(grace, `${name}: stop_grace_period of ${service}`).toBeGreaterThan(delay + timeout);
        if (spec.healthcheck?.test !== undefined) expect(spec.healthcheck.test).toEqual(['CMD', 'tend', 'health']);
      }
    });
  }

  it('kubernetes/deployment.yaml: terminationGracePeriodSeconds covers shutdown_delay + shutdown_timeout, probes on tend\'s port', () => {
    const deployment = parse(readFileSync(join(EXAMPLES, 'kubernetes', 'deployment.yaml'), 'utf8')) as {
      spec: { template: { spec: { terminationGracePeriodSeconds: number; containers: { livenessProbe: { httpGet: { path: string } }; readinessProbe: { httpGet: { path: string } } }[] } } };
    };
    const pod = deployment.spec.template.spec;
    const { delay, timeout } = tendSettings('kubernetes');
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(delay + timeout);
    expect(pod.containers[0]?.livenessProbe.httpGet.path).toBe('/healthz');
    expect(pod.containers[0]?.readinessProbe.httpGet.path).toBe('/readyz');
  });
});
