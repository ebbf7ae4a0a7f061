// The backends of limits: against a fake cgroupfs tree in a temporary directory (files the
// kernel would show, written by hand), so each container setting can be checked on any
// machine: cgroup v2 with the controllers offered and tend alone in its cgroup (a private
// cgroup namespace, --privileged, a Kubernetes container cgroup), v2 shared with other
// processes, a hybrid host with v1 hierarchies, and none at all.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ServiceCgroups } from '../../src/process/cgroup';
import { cgroup1Mounts, cgroup1Paths, describePlace, keyedValue, ServiceResources } from '../../src/process/limits';
import { tempDir } from '../helpers/tend';

const PID = 4242;

/** A v2 hierarchy with tend's cgroup at `path`, offering `controllers`, holding `procs`. */
function fakeV2(path: string, controllers: string, procs: number[]) {
  const mount = tempDir('tend-fake-cgroup2-');
  const self = join(mount, path);
  mkdirSync(self, { recursive: true });
  writeFileSync(join(self, 'cgroup.controllers'), `${controllers}\n`);
  writeFileSync(join(self, 'cgroup.subtree_control'), '\n');
  writeFileSync(join(self, 'cgroup.procs'), procs.map((p) => `${p}\n`).join(''));
  const v2 = { mount, self };
  const cgroups = ServiceCgroups.create('inst', v2)!;
  return { v2, self, cgroups };
}

const noV1 = { mountinfo: '', procCgroup: '0::/\n' };

describe('cgroup v2 backend', () => {
  it('tend alone in its cgroup: moves itself into a leaf of its own, enables memory, cpu and pids, writes the limits', () => {
    const { v2, self, cgroups } = fakeV2('kubepods/pod1/ctr', 'cpuset cpu io memory hugetlb pids', [PID]);
    const resources = new ServiceResources({ cgroups, instance: 'inst', noCgroups: false, v2, pid: PID, ...noV1 });
    cgroups.leaf('web');
    const prepared = resources.prepare('web', { memory: 64 << 20, cpu: 0.5, pids: 100 });
    expect(prepared).toEqual({ joins: [], enforced: ['memory', 'cpu', 'pids'], notEnforced: [] });
    // "no internal processes": tend left its cgroup before the controllers were enabled in it.
    expect(readFileSync(join(`${cgroups.root}-supervisor`, 'cgroup.procs'), 'utf8')).toBe(String(PID));
    expect(readFileSync(join(self, 'cgroup.subtree_control'), 'utf8')).toBe('+memory +cpu +pids');
    expect(readFileSync(join(cgroups.root, 'cgroup.subtree_control'), 'utf8')).toBe('+memory +cpu +pids');
    expect(readFileSync(join(cgroups.root, 'web', 'memory.max'), 'utf8')).toBe(String(64 << 20));
    expect(readFileSync(join(cgroups.root, 'web', 'cpu.max'), 'utf8')).toBe('50000 100000');
    expect(readFileSync(join(cgroups.root, 'web', 'pids.max'), 'utf8')).toBe('100');
    expect(resources.backends().get('memory')).toEqual({ backend: 'cgroup2', detail: `cgroup2 ${cgroups.root} (tend in a Kubernetes pod's container cgroup, moved to ${cgroups.root}-supervisor)` });
    // A reload that takes a limit away writes "max" back.
    resources.prepare('web', { memory: null, cpu: null, pids: 100 });
    expect(readFileSync(join(cgroups.root, 'web', 'memory.max'), 'utf8')).toBe('max');
    // OOM kills and usage come from the leaf.
    writeFileSync(join(cgroups.root, 'web', 'memory.events'), 'low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\noom_group_kill 0\n');
    writeFileSync(join(cgroups.root, 'web', 'memory.stat'), 'anon 1048576\nfile 9999999\nkernel 4096\n');
    writeFileSync(join(cgroups.root, 'web', 'cpu.stat'), 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n');
    expect(resources.oomKills('web')).toBe(2);
    expect(resources.usage('web')).toEqual({ memoryBytes: 1048576 + 4096, cpuSeconds: 2.5 });
    // At exit tend turns the controllers off again and goes back.
    resources.close();
    expect(readFileSync(join(self, 'cgroup.subtree_control'), 'utf8')).toBe('-memory -cpu -pids');
    expect(readFileSync(join(self, 'cgroup.procs'), 'utf8')).toBe(String(PID));
  });

  it('other processes in tend\'s cgroup: tend moves none of them and says why; memory falls to tend, cpu and pids are not enforced', () => {
    const { v2, self, cgroups } = fakeV2('docker/abc', 'cpu memory pids', [PID, 17, 18]);
    const resources = new ServiceResources({ cgroups, instance: 'inst', noCgroups: false, v2, pid: PID, ...noV1 });
    const prepared = resources.prepare('web', { memory: 64 << 20, cpu: 1, pids: null });
    expect(prepared.enforced).toEqual([]);
    expect(prepared.notEnforced.map((n) => n.key)).toEqual(['memory', 'cpu']);
    expect(prepared.notEnforced[0]!.why).toBe(`tend's cgroup ${self} (the container's cgroup, seen from the host's cgroup namespace) holds 2 other process(es): cgroup v2 enables controllers only below a cgroup with no process of its own, and tend moves only itself (run tend as the container's PID 1); no writable cgroup v1 memory hierarchy`);
    expect(existsSync(`${cgroups.root}-supervisor`)).toBe(false);
    expect(readFileSync(join(self, 'cgroup.subtree_control'), 'utf8')).toBe('\n');
  });

  it('a hybrid host: v2 offers none of the controllers, the v1 hierarchies carry them', () => {
    const { v2, cgroups } = fakeV2('', 'hugetlb', [PID]);
    const v1 = tempDir('tend-fake-cgroup1-');
    for (const c of ['memory', 'pids']) mkdirSync(join(v1, c, 'ctr'), { recursive: true });
    const mountinfo = [
      `35 31 0:32 / ${v1}/memory rw,relatime - cgroup cgroup rw,memory`,
      `39 31 0:36 / ${v1}/pids rw,relatime - cgroup cgroup rw,pids`,
      `41 31 0:38 / ${v2.mount} rw,relatime - cgroup2 cgroup2 rw`,
    ].join('\n');
    const resources = new ServiceResources({ cgroups, instance: 'inst', noCgroups: false, v2, pid: PID, mountinfo, procCgroup: '8:pids:/ctr\n4:memory:/ctr\n0::/\n' });
    const prepared = resources.prepare('web', { memory: 32 << 20, cpu: 0.2, pids: 50 });
    const memoryLeaf = join(v1, 'memory', 'ctr', `tend-${PID}-inst`, 'web');
    const pidsLeaf = join(v1, 'pids', 'ctr', `tend-${PID}-inst`, 'web');
    expect(prepared.joins).toEqual([memoryLeaf, pidsLeaf]);
    expect(prepared.enforced).toEqual(['memory', 'pids']);
    expect(prepared.notEnforced).toEqual([{ key: 'cpu', why: `cgroup2 at ${v2.self} offers no memory, cpu or pids controller (only hugetlb: a hybrid host keeps them on cgroup v1)` }]);
    expect(readFileSync(join(memoryLeaf, 'memory.limit_in_bytes'), 'utf8')).toBe(String(32 << 20));
    expect(readFileSync(join(pidsLeaf, 'pids.max'), 'utf8')).toBe('50');
    writeFileSync(join(memoryLeaf, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n');
    expect(resources.oomKills('web')).toBe(3);
    resources.close();
  });

  it('tracking: proc uses no cgroup, for limits either', () => {
    const resources = new ServiceResources({ cgroups: null, instance: 'inst', noCgroups: true, pid: PID });
    expect(resources.prepare('web', { memory: 1 << 20, cpu: null, pids: 5 }).notEnforced).toEqual([
      { key: 'memory', why: 'tracking: proc — tend uses no cgroup' },
      { key: 'pids', why: 'tracking: proc — tend uses no cgroup' },
    ]);
  });
});

describe('parsing', () => {
  it('reads v1 mounts, tend\'s v1 paths, keyed files and the kind of place', () => {
    expect(cgroup1Mounts('32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw'))
      .toEqual([{ controllers: ['rw', 'cpu', 'cpuacct'], root: '/', mountpoint: '/sys/fs/cgroup/cpu,cpuacct' }]);
    expect([...cgroup1Paths('2:cpu,cpuacct:/a\n1:name=systemd:/\n0::/x\n')]).toEqual([['cpu', '/a'], ['cpuacct', '/a'], ['name=systemd', '/']]);
    expect(keyedValue('oom 1\noom_kill 4\n', 'oom_kill')).toBe(4);
    expect(keyedValue('oom 1\n', 'oom_kill')).toBeNull();
    expect(describePlace('/')).toBe('the root of a private cgroup namespace (--cgroupns=private)');
  });
});
