// Cost of the exec helper per spawn, against plain child_process.
//   node native/build.mjs && node bench/spawn.mjs [N]
// Each variant spawns `true` N times, one after another (spawn → 'exit'), and reports the
// mean and p50/p99 wall time per spawn. Run as root for the setsid/user/cgroup variants.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const helper = join(root, 'native', 'build', 'tend-exec');
const N = Number(process.argv[2] ?? 300);
const env = { PATH: process.env.PATH };

function once(file, args, options) {
  return new Promise((done, fail) => {
    const child = spawn(file, args, { stdio: 'ignore', env, ...options });
    child.on('error', fail);
    child.on('exit', () => done());
  });
}

async function measure(name, file, args, options = {}) {
  for (let i = 0; i < 20; i++) await once(file, args, options); // warm-up
  const times = [];
  for (let i = 0; i < N; i++) {
    const start = process.hrtime.bigint();
    await once(file, args, options);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const pct = (p) => times[Math.min(times.length - 1, Math.floor(times.length * p))];
  console.log(`${name.padEnd(44)} mean ${mean.toFixed(3)} ms  p50 ${pct(0.5).toFixed(3)}  p99 ${pct(0.99).toFixed(3)}`);
  return mean;
}

if (!existsSync(helper)) {
  console.error(`no helper at ${helper}: run node native/build.mjs`);
  process.exit(1);
}
console.log(`${N} spawns of /bin/true each, sequential, node ${process.version}`);
const base = await measure('child_process.spawn(true)', 'true', []);
await measure('child_process.spawn(true, {detached})', 'true', [], { detached: true });
const viaHelper = await measure('tend-exec -s -- true', helper, ['-s', '--', 'true'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
if (process.getuid() === 0) {
  await measure('tend-exec -s -u nobody -H -- true', helper, ['-s', '-u', 'nobody', '-H', '--', 'true'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
  const mounts = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup'];
  const mount = mounts.find((m) => existsSync(join(m, 'cgroup.procs')) && existsSync(join(m, 'cgroup.subtree_control')));
  if (mount !== undefined) {
    const leaf = join(mount, `tend-bench-${process.pid}`);
    try {
      mkdirSync(leaf);
      await measure('tend-exec -s -c LEAF -- true', helper, ['-s', '-c', leaf, '--', 'true'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
    } catch (error) {
      console.log(`cgroup variant skipped: ${error.message}`);
    } finally {
      try { rmdirSync(leaf); } catch { /* busy or absent */ }
    }
  }
}
console.log(`helper overhead per spawn: ${(viaHelper - base).toFixed(3)} ms`);
