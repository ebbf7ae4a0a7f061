// The Dockerfile. There is no Docker engine here, so this test reads the stages and
// replays them: the `dist` stage must hold only /opt/tend, the package `npm run package`
// makes (scripts/package.mjs; test/package/ runs it in a root with no Node), and the last
// stage — the base image — must add it with the documented COPY, link `tend` onto PATH and
// keep ENTRYPOINT and HEALTHCHECK. Then tend runs as PID 1 from that layout alone.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePackaged, unpack } from '../helpers/package';
import { ROOT, canUnshare, childrenOf, tempDir, waitFor, writeManifest } from '../helpers/tend';
import type { StatusDocument } from '../../src/control/api';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** The Dockerfile's stages: name (or index) → its instructions, comments and blank lines dropped. */
function stages(dockerfile: string): Map<string, string[]> {
  const lines = dockerfile.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  const out = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of lines) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) {
      current = [line];
      out.set(from[2] ?? `#${out.size}`, current);
    } else {
      current.push(line);
    }
  }
  return out;
}

function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, ...env }, timeout: 15_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

describe.skipIf(!canUnshare())('the Dockerfile', () => {
  const all = stages(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  const last = [...all.values()].at(-1)!;

  it('has a `dist` stage holding only /opt/tend, and a base image that adds it the documented way', () => {
    expect(all.get('dist')).toEqual(['FROM scratch AS dist', 'COPY --from=build /opt/tend /opt/tend']);
    expect(last).toContain('COPY --from=dist /opt/tend /opt/tend');
    expect(last.find((line) => line.startsWith('RUN ln -s /opt/tend/bin/tend /usr/local/bin/tend'))).toBeDefined();
    expect(last).toContain('ENTRYPOINT ["tend"]');
    expect(last.find((line) => line.startsWith('HEALTHCHECK'))).toMatch(/CMD \["tend", "health"\]$/);
    // The build stage makes /opt/tend from the package archive.
    expect(all.get('build')!.join('\n')).toMatch(/scripts\/package\.mjs[\s\S]*tar -xzf out\/tend-\*-linux-\*\.tar\.gz -C \/opt/);
  });

  it('runs tend as PID 1 from /opt/tend alone, through /usr/local/bin/tend', async () => {
    const image = tempDir('tend-image-');
    const opt = unpack(ensurePackaged(), image, 'opt');
    mkdirSync(join(image, 'usr', 'local', 'bin'), { recursive: true });
    const tend = join(image, 'usr', 'local', 'bin', 'tend');
    symlinkSync(join(opt, 'bin', 'tend'), tend);
    const dir = tempDir('tend-image-etc-');
    const socket = join(dir, 'tend.sock');
    const file = writeManifest(dir, `
services:
  app:
    main: true
    command: ["sh", "-c", "(setsid sleep 0.05 &); trap 'exit 0' TERM; while :; do sleep 600 & wait $$!; done"]
    ready: { command: ["true"], interval: 50ms }
`);
    const env: NodeJS.ProcessEnv = { ...process.env, TEND_SOCKET: socket };
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.NODE_PATH;
    const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', tend, 'run', '-c', file], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { output += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { output += d; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    const health = await waitFor(async () => {
      const result = await run(tend, ['health'], { TEND_SOCKET: socket });
      return result.code === 0 ? result : null;
    }, { what: () => `tend health from the image layout; output:\n${output}` });
    expect(health.code).toBe(0);
    const status = await run(tend, ['status', '--json'], { TEND_SOCKET: socket });
    expect((JSON.parse(status.stdout) as StatusDocument).services[0]).toMatchObject({ name: 'app', state: 'ready' });
    expect(output).not.toMatch(/cannot load ffi-rs|exec helper .* not built/);

    process.kill(childrenOf(child.pid!)[0]!, 'SIGTERM');
    expect(await exited).toBe(0);
  }, 120_000);
});
