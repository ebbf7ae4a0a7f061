// examples/vm-daemons as PID 1: redis-server (daemonize yes, its pid file, as user redis),
// nginx (no "daemon off;"), cron and PostgreSQL (pg_ctlcluster, a cluster of the test's own)
// as Debian ships them, type: forking; a Type=notify
// service with a watchdog (notifier.py); settings.syslog on /dev/log, in a /dev private to
// tend. They start, serve, restart after a kill with the daemon's own status, a hung
// notifier is restarted by its watchdog, cron runs its job and its syslog lines reach its
// output, they stop in reverse order at SIGTERM, and no zombie is left at any point.
// Skips, saying why, without the Debian packages.
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { canUnshare, privateDev, readText, tempDir, waitFor } from '../helpers/tend';
import { at, EXAMPLES, freePort, get, killLeftovers, startExample } from './helpers';

afterEach(killLeftovers);

const missing = [
  existsSync('/usr/sbin/nginx') ? null : 'nginx-light',
  spawnSync('redis-server', ['--version']).status === 0 ? null : 'redis-server',
  existsSync('/usr/sbin/cron') ? null : 'cron',
  spawnSync('python3', ['-c', 'import http.server, syslog']).status === 0 ? null : 'python3',
  existsSync('/usr/bin/pg_createcluster') ? null : 'postgresql',
].filter((name) => name !== null);
// Debian's PostgreSQL major version (15 on Debian 12): the cluster is /etc/postgresql/VERSION/main.
const pgVersion = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort().at(-1) ?? '15' : '15';
if (missing.length > 0) console.warn(`skipping examples/vm-daemons: ${missing.join(', ')} not installed (apt-get install ${missing.join(' ')})`);

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

describe.skipIf(!canUnshare() || missing.length > 0)('examples/vm-daemons', () => {
  it('nginx, redis-server, cron and PostgreSQL daemonize as shipped, a notify service has its watchdog, syslog reaches each: up, serving, restarted, stopped in reverse order, no zombie', async () => {
    const [redisPort, webPort, notifyPort, pgPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const dir = tempDir('tend-vm-');
    // tend's own /dev (its /dev/log) and /etc/cron.d: the example's crontab, writing under dir.
    mkdirSync(join(dir, 'cron.d'));
    const cronLog = join(dir, 'vm-cron.log');
    writeFileSync(join(dir, 'cron.d', 'vm-daemons'), readFileSync(join(EXAMPLES, 'vm-daemons', 'cron.d', 'vm-daemons'), 'utf8').replaceAll('/var/log/vm-cron.log', cronLog));
    const vm = startExample('vm-daemons', {
      REDIS_PORT: String(redisPort), WEB_PORT: String(webPort), NGINX_CONF: nginxConf(dir, webPort), NGINX_PID: join(dir, 'nginx.pid'),
      NOTIFY_PORT: String(notifyPort), PG_PORT: String(pgPort), PG_VERSION: pgVersion,
    }, {
      prelude: [
        privateDev(join(dir, 'dev')),
        `mount --bind ${join(dir, 'cron.d')} /etc/cron.d`,
        // PostgreSQL's config, data and logs of the test's own: the machine's cluster is not touched.
        ...['etc', 'lib', 'log'].map((d) => `mkdir -p ${dir}/pg-${d} && chown postgres:postgres ${dir}/pg-${d}`),
        `mount --bind ${dir}/pg-etc /etc/postgresql && mount --bind ${dir}/pg-lib /var/lib/postgresql && mount --bind ${dir}/pg-log /var/log/postgresql`,
        `pg_createcluster ${pgVersion} main -p ${pgPort} >/dev/null`,
      ].join('\n'),
    });
    const tendPid = await vm.tend.tendPid();
    const service = (doc: { services: readonly { name: string; state: string }[] }, name: string) => doc.services.find((s) => s.name === name);
    const up = await vm.waitStatus((doc) => ['nginx', 'notifier', 'postgres'].every((name) => service(doc, name)?.state === 'ready') && service(doc, 'cron')?.state === 'running', 'all up', 60_000);
    const pgPid = () => Number(readFileSync(`/run/postgresql/${pgVersion}-main.pid`, 'utf8'));
    const psql = (query: string) => spawnSync('runuser', ['-u', 'postgres', '--', 'psql', '-p', String(pgPort), '-h', '/var/run/postgresql', '-Atc', query], { encoding: 'utf8' });
    const redisPid = Number(readFileSync('/run/redis/redis-server.pid', 'utf8'));
    const nginxPid = Number(readFileSync(join(dir, 'nginx.pid'), 'utf8'));
    const cronPid = Number(readFileSync('/run/crond.pid', 'utf8'));
    expect(up.services.find((s) => s.name === 'redis')).toMatchObject({ state: 'ready', pid: redisPid });
    expect(up.services.find((s) => s.name === 'nginx')).toMatchObject({ state: 'ready', pid: nginxPid });
    expect(up.services.find((s) => s.name === 'cron')).toMatchObject({ state: 'running', pid: cronPid });
    expect(up.services.find((s) => s.name === 'postgres')).toMatchObject({ state: 'ready', pid: pgPid() });
    expect(psql('CREATE TABLE vm (k text); INSERT INTO vm VALUES (\'kept\')').stdout.trim()).toBe('CREATE TABLE\nINSERT 0 1');
    expect(up.services.find((s) => s.name === 'notifier')).toMatchObject({ state: 'ready', status_text: `serving on port ${notifyPort}` });
    expect(await redis(redisPort, 'SET', 'k', 'v')).toBe('+OK');
    expect((await get(`http://127.0.0.1:${webPort}/`)).body).toContain('Welcome to nginx');
    expect((await get(`http://127.0.0.1:${notifyPort}/`)).body).toBe('notifier ok\n');
    // syslog: cron's own start-up line and the notifier's (Python's syslog module), each in its service's output.
    await vm.tend.waitOutput(/^cron +\| cron\.info cron\[\d+\]: \(CRON\) INFO/m);
    await vm.tend.waitOutput(new RegExp(`^notifier +\\| daemon\\.notice notifier\\[\\d+\\]: listening on 127\\.0\\.0\\.1:${notifyPort}$`, 'm'));
    await vm.tend.waitOutput(/^notifier +\| daemon\.info notifier\[\d+\]: "GET \/ HTTP\/1\.1" 200 -$/m);
    expect(zombiesUnder(tendPid)).toEqual([]);

    // Each daemon dies: tend, its parent since the start program exited, reaps it with its
    // own status and starts it once more.
    for (const [name, pidOf] of [
      ['redis', () => Number(readFileSync('/run/redis/redis-server.pid', 'utf8'))],
      ['cron', () => Number(readFileSync('/run/crond.pid', 'utf8'))],
      ['postgres', pgPid],
      ['notifier', null],
    ] as const) {
      const before = (await vm.service(name)).pid;
      const killed = await vm.cli(['signal', name, 'KILL']);
      expect(killed.code).toBe(0);
      const again = await vm.waitStatus((doc) => {
        const s = doc.services.find((x) => x.name === name);
        return s !== undefined && ['ready', 'running'].includes(s.state) && s.pid !== before && s.restarts === 1;
      }, `${name} back`, 30_000);
      const back = again.services.find((s) => s.name === name)!;
      expect(back).toMatchObject({ restarts: 1, last_exit: { signal: 'SIGKILL' } });
      if (pidOf !== null) expect(back.pid).toBe(pidOf());
      expect(zombiesUnder(tendPid)).toEqual([]);
    }
    expect(await redis(redisPort, 'PING')).toBe('+PONG');
    expect(psql('SELECT k FROM vm').stdout.trim()).toBe('kept'); // crash recovery kept the row
    await waitFor(async () => (await get(`http://127.0.0.1:${notifyPort}/`)).body === 'notifier ok\n', { what: 'the notifier serving again' });

    // The notifier hangs (stopped): no WATCHDOG=1, so its watchdog aborts and restarts it.
    expect((await vm.cli(['signal', 'notifier', 'STOP'])).code).toBe(0);
    const hung = await vm.waitStatus((doc) => {
      const s = doc.services.find((x) => x.name === 'notifier') as { state: string; restarts: number; last_exit: unknown } | undefined;
      return s?.state === 'ready' && s.restarts === 2;
    }, 'the notifier restarted by its watchdog', 30_000);
    expect(hung.services.find((s) => s.name === 'notifier')).toMatchObject({ last_exit: { signal: 'SIGABRT', reason: 'watchdog' } });
    await vm.tend.waitOutput(/notifier: watchdog: no WATCHDOG=1 for 4s: it hangs/);

    // cron's job, at the next minute: its file, cron's CMD line and the job's logger line.
    await waitFor(() => readText(cronLog).trim() !== '', { timeout: 75_000, interval: 250, what: () => `cron's job to run\n${vm.tend.stdout.slice(-3000)}` });
    await vm.tend.waitOutput(/^cron +\| cron\.info CRON\[\d+\]: \(root\) CMD \(date \+%s >> /m, 15_000);
    await vm.tend.waitOutput(/^cron +\| user\.notice cron-job: wrote /m, 15_000);
    expect(vm.tend.stderr).not.toContain('(syslog)');
    expect(zombiesUnder(tendPid)).toEqual([]);

    // docker stop: nginx and the notifier first (nginx and the notifier depend on redis,
    // the notifier on postgres too), each with its own stop signal; redis and postgres
    // after them. Nothing depends on cron, so it is told to stop in the first wave, and
    // redis may go before a slow cron has finished: only that cron stopped cleanly is
    // asserted of it.
    await vm.tend.signal('SIGTERM');
    const { code } = await vm.tend.exited;
    const log = vm.events();
    for (const name of ['nginx', 'notifier']) {
      expect(at(log, `${name}: stopped`)).toBeGreaterThan(-1);
      expect(at(log, `${name}: stopped`)).toBeLessThan(at(log, 'redis: stopping (SIGTERM)'));
    }
    expect(at(log, 'cron: stopped')).toBeGreaterThan(-1);
    expect(at(log, 'notifier: stopped')).toBeLessThan(at(log, 'postgres: stopping (SIGINT)'));
    expect(at(log, 'postgres: stopped')).toBeGreaterThan(-1);
    expect(at(log, 'redis: stopped')).toBeGreaterThan(-1);
    expect(log.filter((line) => /killed with SIGKILL|still running/.test(line))).toEqual([]);
    expect(code).toBe(0);
  }, 150_000);
});
