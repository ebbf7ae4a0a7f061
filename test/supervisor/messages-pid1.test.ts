// What tend says, end to end as PID 1: `tend status -v` lists each process with its command
// line (a value from tend's environment shown as ${NAME}, also in a child the shell started),
// `tend signal` is logged with who asked, a reload does not call a service that stays stopped
// "restarted", and `tend check` warns about a stop_timeout the shutdown deadline cuts short.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { canUnshare, readText, waitFor } from '../helpers/tend';
import { scenario } from './scenario';

const pid1 = canUnshare();
const SECRET = `tok-${Math.random().toString(36).slice(2)}`;

describe.skipIf(!pid1)('messages, as PID 1', () => {
  it('status -v shows each process\'s command line, with values from tend\'s environment redacted', async () => {
    const t = scenario(`
services:
  api:
    command: ["svc", "api-\${API_TOKEN}"]
  shell:
    # The shell passes the value on to the child it starts: redacted there too.
    command: "svc child-\${API_TOKEN} & echo started > $$DIR/shell; wait"
`);
    const tend = t.startWith({ API_TOKEN: SECRET });
    await waitFor(() => readText(join(t.dir, 'shell')), { what: () => tend.stderr });
    let status = '';
    await waitFor(() => {
      status = t.cli('status', '-v').stdout;
      return status.includes('svc child-');
    }, { what: () => status });
    expect(status).toMatch(/^\s+\d+ {2}\/bin\/sh \S+\/svc api-\$\{API_TOKEN\} \(own process\)$/m);
    expect(status).toMatch(/^\s+\d+ {2}\/bin\/sh -c svc child-\$\{API_TOKEN\} & echo started > .*; wait \(own process\)$/m);
    expect(status).toMatch(/^\s+\d+ {2}\/bin\/sh \S+\/svc child-\$\{API_TOKEN\}$/m);
    expect(status).not.toContain(SECRET);
    const json = t.cli('status', '--json').stdout;
    expect(json).toContain('svc api-${API_TOKEN}');
    expect(json).not.toContain(SECRET);
    await tend.signal('SIGTERM');
    await tend.exited;
  });

  it('tend signal is logged with the requesting peer; a reload names a changed service that stays stopped as such', async () => {
    const t = scenario(`
services:
  web: { command: ["sleep", "1000"] }
  idle: { command: ["sleep", "1002"] }
`);
    const tend = t.start();
    await tend.waitOutput('all services started');
    expect(t.cli('signal', 'web', 'HUP').code).toBe(0);
    await tend.waitOutput(/signal SIGHUP to web \(requested by pid \d+\)/);

    expect(t.cli('stop', 'idle').code).toBe(0);
    await tend.waitOutput(/idle: stopped/);
    writeFileSync(t.file, readText(t.file).replace('1002', '1003').replace('"1000"', '"1004"'));
    const reload = t.cli('reload');
    expect(reload.code).toBe(0);
    await tend.waitOutput(/reloaded .*: restarted web; changed idle \(stays stopped until `tend start`\)/);
    expect(tend.stderr).not.toMatch(/restarted [^;\n]*idle/);
    await tend.signal('SIGTERM');
    await tend.exited;
  });

  it('tend check warns when a stop_timeout is longer than shutdown_timeout', () => {
    const t = scenario(`
settings: { shutdown_timeout: 3s }
services:
  slow: { command: ["sleep", "1000"], stop_timeout: 10s }
`);
    const check = t.cli('check', '-c', t.file);
    expect(check.code).toBe(0);
    expect(check.stderr).toContain(`${t.file}:4:39: services.slow.stop_timeout: warning: slow's stop_timeout (10s) is longer than settings.shutdown_timeout (3s)`);
  });
});
