// Syslog throughput into the pipeline (settings.syslog). tend runs as PID 1 with
// `syslog: ./log.sock` and one service whose only program (C tool `syslog N SOCKET FILE`)
// stamps "S", sends N RFC 3164 datagrams of ~100 bytes as fast as send() allows — a
// blocking send, as glibc's syslog(3): it waits while tend's queue is full — and stamps
// "E". Each message is received, attributed to the service, parsed and written to its
// log.file (console: none). Sample: N ÷ (the last line seen in log.file − S), messages/s;
// every run also checks that all N lines are there, once each, in order.
import { closeSync, existsSync, fstatSync, openSync, readSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { cleanEnv, now, readText, stamps, tendArgv, waitFor, workDir } from '../lib/common.mjs';
import { forSubjects, metric, notApplicable } from '../lib/figure.mjs';

export const id = 'syslog';

function tail(file) {
  if (!existsSync(file)) return '';
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const buffer = Buffer.alloc(Math.min(size, 512));
    readSync(fd, buffer, 0, buffer.length, size - buffer.length);
    return buffer.toString('latin1');
  } finally {
    closeSync(fd);
  }
}

export async function run(ctx) {
  const m = metric({
    id, title: 'syslog messages into log.file', goal: '≥ 100,000 messages/s, none lost', unit: 'msg/s', better: 'higher',
    holds: (x) => x >= 100_000,
  });
  const n = ctx.smoke ? 2_000 : 200_000;
  let lost = 0;
  await forSubjects(ctx, ['tend run'], async (_subject, runs) => {
    const samples = [];
    for (let run = 0; run < runs; run++) {
      const dir = workDir(ctx, 'syslog');
      const log = join(dir, 'flood.log');
      const marks = join(dir, 'marks');
      writeFileSync(join(dir, 'tend.yaml'), JSON.stringify({
        settings: { syslog: './log.sock', shutdown_timeout: '30s' },
        services: {
          flood: { command: [ctx.tools, 'syslog', String(n), join(dir, 'log.sock'), marks], restart: 'never', log: { console: 'none', file: log, max_size: '1GB' } },
          idle: { main: true, command: ['sleep', '1000'] },
        },
      }));
      const init = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', ...tendArgv('run', '-c', join(dir, 'tend.yaml'))], {
        env: cleanEnv({ TEND_SOCKET: join(dir, 'tend.sock') }), cwd: dir, stdio: 'ignore',
      });
      const last = `message ${String(n - 1).padStart(8, '0')} `;
      try {
        // The file's last bytes only: reading all of it every 2 ms would take the CPU tend needs.
        const seen = await waitFor(() => (tail(log).includes(last) ? now() : null), { timeout: 120_000, interval: 2, what: `${n} syslog lines in ${log}` });
        const [start] = stamps(marks, 'S');
        samples.push(n / (Number(seen - BigInt(start)) / 1e9));
        const lines = readText(log).split('\n').filter((line) => line.includes(' flood['));
        let inOrder = lines.length === n;
        for (let i = 0; inOrder && i < n; i++) inOrder = lines[i].includes(`message ${String(i).padStart(8, '0')} `);
        if (!inOrder) lost += 1;
        if (lines.length !== n) throw new Error(`${lines.length} of ${n} lines reached log.file`);
      } finally {
        init.kill('SIGKILL');
      }
    }
    return samples;
  }, [m]);
  notApplicable(m, ['tend --', 'tini', 'dumb-init', 'catatonit', 'supervisord'], 'no syslog receiver');
  m.notes.push(`${n.toLocaleString('en')} datagrams of ~100 bytes per run, one sender; from its first send to the last line seen in log.file (polled every 2 ms). Every run: all ${n.toLocaleString('en')} lines in log.file${lost === 0 ? ', once each, in order' : ` — ${lost} run(s) out of order or with lines missing`}. The sender's blocking send() waits while tend's queue is full: tend drops nothing, the sender is held back.`);
  return [m];
}
