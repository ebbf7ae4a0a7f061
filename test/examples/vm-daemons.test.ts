// examples/vm-daemons as PID 1: redis-server (daemonize yes, its pid file, as user redis)
// and nginx (no "daemon off;") as Debian ships them, type: forking. They start, serve,
// restart after a kill with the daemon's own status, stop in reverse order at SIGTERM,
// and no zombie is left at any point. Skips, saying why, without the Debian packages.
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { canUnshare, tempDir } from '../helpers/tend';
import { at, freePort, get, killLeftovers, startExample } from './helpers';

afterEach(killLeftovers);

const daemons = existsSync('/usr/sbin/nginx') && spawnSync('redis-server', ['--version']).status === 0;
if (!daemons) console.warn('skipping examples/vm-daemons: nginx and redis-server are not installed (apt-get install nginx-light redis-server)');

/** One redis command over RESP, its first reply line. */
function redis(port: number, ...words: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk.toString();
      if (text.includes('\r\n')) {
        socket.destroy();
        resolve(text.split('\r\n')[0]!);
      }
    });
    socket.on('error', reject);
    socket.write(`*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`);
  });
}

/** The zombies among the processes of tend's namespace (seen from here: tend's descendants). */
function zombiesUnder(pid: number): number[] {
  const children = new Map<number, number[]>();
  const states = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      states.set(Number(entry), fields[0]!);
      const ppid = Number(fields[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const walk = (p: number): void => {
    for (const child of children.get(p) ?? []) {
      if (states.get(child) === 'Z') found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

/** The shipped nginx.conf with the test's port, pid file and logs (the package's listens on 80). */
function nginxConf(dir: string, port: number): string {
  const shipped = readFileSync('/etc/nginx/nginx.conf', 'utf8');
  const conf = shipped
    .replace(/^pid .*;$/m, `pid ${dir}/nginx.pid;`)
    .replace(/^error_log .*;$/m, `error_log ${dir}/error.log;`)
    .replace(/^\s*access_log .*;$/m, `access_log ${dir}/access.log;`)
    .replace(/^\s*include \/etc\/nginx\/sites-enabled\/\*;$/m,
      `server { listen 127.0.0.1:${port}; root /var/www/html; index index.nginx-debian.html; location / { try_files $uri $uri/ =404; } }`);
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  return file;
}

describe.skipIf(!canUnshare() || !daemons)('examples/vm-daemons', () => {
  it('nginx and redis-server daemonize as shipped: up, serving, restarted after a kill, stopped in reverse order, no zombie', async () => {
    const [redisPort, webPort] = [await freePort(), await freePort()];
    const dir = tempDir('tend-nginx-');
    const vm = startExample('vm-daemons', {
      REDIS_PORT: String(redisPort), WEB_PORT: String(webPort), NGINX_CONF: nginxConf(dir, webPort), NGINX_PID: join(dir, 'nginx.pid'),
    });
    const tendPid = await vm.tend.tendPid();
    const up = await vm.waitStatus((doc) => doc.services.find((s) => s.name === 'nginx')?.state === 'ready', 'nginx ready', 30_000);
    const redisPid = Number(readFileSync('/run/redis/redis-server.pid', 'utf8'));
    const nginxPid = Number(readFileSync(join(dir, 'nginx.pid'), 'utf8'));
    expect(up.services.find((s) => s.name === 'redis')).toMatchObject({ state: 'ready', pid: redisPid });
    expect(up.services.find((s) => s.name === 'nginx')).toMatchObject({ state: 'ready', pid: nginxPid });
    expect(await redis(redisPort, 'SET', 'k', 'v')).toBe('+OK');
    expect((await get(`http://127.0.0.1:${webPort}/`)).body).toContain('Welcome to nginx');
    expect(zombiesUnder(tendPid)).toEqual([]);

    // redis-server dies: tend, its parent since the start program exited, reaps it with its
    // own status and starts it once more.
    const killed = await vm.cli(['signal', 'redis', 'KILL']);
    expect(killed.code).toBe(0);
    const again = await vm.waitStatus((doc) => {
      const r = doc.services.find((s) => s.name === 'redis');
      return r?.state === 'ready' && r.pid !== redisPid;
    }, 'redis back', 30_000);
    const back = again.services.find((s) => s.name === 'redis')!;
    expect(back).toMatchObject({ restarts: 1, last_exit: { signal: 'SIGKILL' } });
    expect(back.pid).toBe(Number(readFileSync('/run/redis/redis-server.pid', 'utf8')));
    expect(await redis(redisPort, 'PING')).toBe('+PONG');
    expect(zombiesUnder(tendPid)).toEqual([]);

    // docker stop: nginx first (it depends on redis), each with its own stop signal.
    await vm.tend.signal('SIGTERM');
    const { code } = await vm.tend.exited;
    const log = vm.events();
    expect(at(log, 'nginx: stopped')).toBeGreaterThan(-1);
    expect(at(log, 'nginx: stopped')).toBeLessThan(at(log, 'redis: stopping (SIGTERM)'));
    expect(at(log, 'redis: stopped')).toBeGreaterThan(-1);
    expect(log.filter((line) => /killed with SIGKILL|still running/.test(line))).toEqual([]);
    expect(code).toBe(0);
  });
});
