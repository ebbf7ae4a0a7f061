// The Dockerfile's runtime stage carries only what tend needs. There is no Docker engine
// here, so this test replays the runtime stage's `COPY --from=build` lines into a
// temporary root and runs tend from that copy alone, as PID 1: if a file tend needs at
// run time (the bundle, ffi-rs and its native binding, the exec helper) were missing
// from the image, this fails. It also checks the stage's ENTRYPOINT and HEALTHCHECK.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ROOT, canUnshare, childrenOf, tempDir, waitFor, writeManifest } from '../helpers/tend';
import type { StatusDocument } from '../../src/control/api';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

interface Stage {
  readonly copies: { from: string; to: string }[];
  readonly entrypoint: string | null;
  readonly healthcheck: string | null;
}

/** The last stage of the Dockerfile: its COPY --from=build lines (resolved), ENTRYPOINT, HEALTHCHECK. */
function runtimeStage(dockerfile: string): Stage {
  const lines = dockerfile.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  const last = lines.map((line, i) => (line.startsWith('FROM ') ? i : -1)).filter((i) => i >= 0).at(-1) ?? 0;
  const buildWorkdir = lines.slice(0, last).filter((line) => line.startsWith('WORKDIR ')).at(-1)?.slice('WORKDIR '.length) ?? '/';
  let workdir = '/';
  const stage: Stage = { copies: [], entrypoint: null, healthcheck: null };
  for (const line of lines.slice(last + 1)) {
    const [instruction, ...rest] = line.split(/\s+/);
    if (instruction === 'WORKDIR') workdir = rest[0]!;
    if (instruction === 'ENTRYPOINT') (stage as { entrypoint: string | null }).entrypoint = rest.join(' ');
    if (instruction === 'HEALTHCHECK') (stage as { healthcheck: string | null }).healthcheck = rest.join(' ');
    if (instruction === 'COPY' && rest[0] === '--from=build') {
      const [from, to] = [rest[1]!, rest[2]!];
      const source = from.startsWith('/') ? from : join(buildWorkdir, from);
      if (!source.startsWith('/src/')) throw new Error(`unexpected build path ${from}`);
      // A destination ending in / is a directory: the source keeps its name inside it.
      const target = to.startsWith('/') ? to : join(workdir, to);
      stage.copies.push({ from: source.slice('/src/'.length), to: to.endsWith('/') ? join(target, basename(source)) : target });
    }
  }
  return stage;
}

function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, ...env }, timeout: 15_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

describe.skipIf(!canUnshare())('the Dockerfile runtime stage', () => {
  const stage = runtimeStage(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));

  it('uses tend as ENTRYPOINT and `tend health` as HEALTHCHECK', () => {
    expect(stage.entrypoint).toBe('["tend"]');
    expect(stage.healthcheck).toMatch(/CMD \["tend", "health"\]$/);
    expect(stage.copies.map((c) => c.to)).toContain('/opt/tend/dist');
  });

  it('runs tend as PID 1 from nothing but the files the stage copies', async () => {
    const image = tempDir('tend-image-');
    for (const { from, to } of stage.copies) {
      mkdirSync(join(image, to, '..'), { recursive: true });
      cpSync(join(ROOT, from), join(image, to), { recursive: true, dereference: true });
    }
    const bin = join(image, 'opt', 'tend', 'bin', 'tend.cjs');
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
    // Only the copy: no NODE_PATH, cwd outside the repository.
    delete env.NODE_PATH;
    const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', process.execPath, bin, 'run', '-c', file], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { output += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { output += d; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    const health = await waitFor(async () => {
      const result = await run(process.execPath, [bin, 'health'], { TEND_SOCKET: socket });
      return result.code === 0 ? result : null;
    }, { what: () => `tend health from the image copy; output:\n${output}` });
    expect(health.code).toBe(0);
    const status = await run(process.execPath, [bin, 'status', '--json'], { TEND_SOCKET: socket });
    expect((JSON.parse(status.stdout) as StatusDocument).services[0]).toMatchObject({ name: 'app', state: 'ready' });
    // The native layer loaded (tend as PID 1 refuses to run without it), the exec helper was found.
    expect(output).not.toMatch(/cannot load ffi-rs|exec helper .* not built/);

    process.kill(childrenOf(child.pid!)[0]!, 'SIGTERM');
    expect(await exited).toBe(0);
  });
});
