#!/usr/bin/env node
// sd_notify READY=1 → dependent started (issue 15's figure: ≤ 5 ms median). Runs tend as
// PID 1 (unshare) N times on a manifest whose `api` sends READY=1 (test/fixtures/bin/sd-notify,
// which stamps CLOCK_REALTIME just before sendto) and whose `dep` (condition: ready) stamps
// the time as its first command. Prints the median, p90 and max of READY=1 → tend's
// "dep: started" (its JSON log's ms timestamp: the spawn) and → dep's first command (that
// includes sh and date starting up).
//   node bench/sd-notify.mjs [runs=20]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const runs = Number(process.argv[2] ?? 20);
const samples = [];
const spawnSamples = [];
for (let run = 0; run < runs; run++) {
  const dir = mkdtempSync(join(tmpdir(), 'tend-sdnotify-'));
  const events = join(dir, 'events');
  writeFileSync(events, '');
  writeFileSync(join(dir, 'tend.yaml'), `
services:
  api:
    command: [python3, -c, 'import os,socket,time; p=os.environ["NOTIFY_SOCKET"]; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); a="\\0"+p[1:]; open(os.environ["EVENTS"],"a").write("ready %d\\n" % time.time_ns()); s.sendto(b"READY=1", a); time.sleep(1000)']
    ready: { sd_notify: true }
  dep:
    main: true
    command: [sh, -c, 'echo "dep $$(date +%s%N)" >> "$$EVENTS"']
    depends_on: { api: { condition: ready } }
`);
  const result = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', join(root, 'bin', 'tend'), 'run', '--log-format', 'json', '-c', join(dir, 'tend.yaml')], {
    env: { ...process.env, EVENTS: events, TEND_SOCKET: join(dir, 'sock') }, encoding: 'utf8', timeout: 20_000,
  });
  const lines = readFileSync(events, 'utf8').trim().split('\n');
  const ready = lines.find((l) => l.startsWith('ready '));
  const dep = lines.find((l) => l.startsWith('dep '));
  if (ready === undefined || dep === undefined) {
    console.error(`run ${run}: no stamps (exit ${result.status}):\n${result.stderr}`);
    continue;
  }
  const readyNs = BigInt(ready.split(' ')[1]);
  samples.push(Number(BigInt(dep.split(' ')[1]) - readyNs) / 1e6);
  const started = result.stderr.split('\n').map((l) => { try { return JSON.parse(l); } catch { return null; } })
    .find((j) => j !== null && typeof j.msg === 'string' && j.msg.startsWith('dep: started'));
  if (started !== undefined) spawnSamples.push(Date.parse(started.time) - Number(readyNs / 1_000_000n));
}
const report = (what, list) => {
  list.sort((a, b) => a - b);
  const at = (q) => list[Math.min(list.length - 1, Math.floor(q * list.length))];
  console.log(`READY=1 → ${what}, ${list.length} runs: median ${at(0.5).toFixed(2)} ms, p90 ${at(0.9).toFixed(2)} ms, max ${list.at(-1).toFixed(2)} ms`);
};
report('dependent spawned (tend\'s log, ±1 ms)', spawnSamples);
report('dependent\'s first command (sh + date)', samples);
