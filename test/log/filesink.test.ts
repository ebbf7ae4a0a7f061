import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { RotatingFile, type FileSinkReport } from '../../src/log/filesink';
import { OutputRouter } from '../../src/log/output';
import { tempDir } from '../helpers/tend';
import { collector, exitOf, fixture, nodeChild } from './helpers';

/** The rotated files oldest first, then the live file: their text in order. */
function readAll(path: string, gz = false): { text: string; files: string[] } {
  const dir = join(path, '..');
  const base = path.slice(dir.length + 1);
  const numbered = readdirSync(dir)
    .map((name) => new RegExp(`^${base}\\.(\\d+)${gz ? '\\.gz' : ''}$`).exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(b[1]) - Number(a[1]))
    .map((m) => join(dir, m[0]));
  const files = [...numbered, path];
  const text = files.map((f) => (f.endsWith('.gz') ? gunzipSync(readFileSync(f)).toString() : readFileSync(f, 'utf8'))).join('');
  return { text, files };
}

describe('RotatingFile', () => {
  it('keeps 40,000 lines exactly once and whole across 256 KB files', async () => {
    const dir = tempDir();
    const path = join(dir, 'web.log');
    const reports: FileSinkReport[] = [];
    const file = new RotatingFile(path, { maxSize: 256 * 1024, keep: 200, compress: false, onReport: (r) => reports.push(r) });
    const out = collector();
    const router = new OutputRouter({ format: 'text', stdout: out.writer, stderr: out.writer });
    // Lines of 20 to 220 bytes from a real process, read in whatever chunks the pipe gives.
    const child = nodeChild("let s = ''; for (let i = 0; i < 40000; i++) { s += `${i} ${'y'.repeat((i * 7919) % 200)}\\n`; if (s.length > 10000) { process.stdout.write(s); s = ''; } } process.stdout.write(s);");
    await Promise.all([router.attach('web', 'stdout', child.stdout!, { console: 'none', file, ring: null }), exitOf(child)]);
    await file.close();
    await out.close();
    const { text, files } = readAll(path);
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      expect(statSync(f).size).toBeLessThanOrEqual(256 * 1024);
      expect(readFileSync(f, 'utf8').endsWith('\n')).toBe(true); // no line split across files
    }
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(40000);
    lines.forEach((line, i) => expect(line).toBe(`${i} ${'y'.repeat((i * 7919) % 200)}`));
    expect(reports).toEqual([]);
  });

  it('keeps only `keep` rotated files, and gzips them when asked', async () => {
    const dir = tempDir();
    const path = join(dir, 'job.log');
    const file = new RotatingFile(path, { maxSize: 10_000, keep: 3, compress: true });
    for (let i = 0; i < 2000; i++) file.write(Buffer.from(`${String(i).padStart(5, '0')} ${'z'.repeat(44)}\n`)); // 51 bytes a line
    await file.close();
    const names = readdirSync(dir).sort();
    expect(names).toEqual(['job.log', 'job.log.1.gz', 'job.log.2.gz', 'job.log.3.gz']);
    const lines = readAll(path, true).text.trim().split('\n');
    // The newest lines survive, contiguous and whole.
    expect(lines.at(-1)).toMatch(/^01999 z{44}$/);
    const first = Number(lines[0]!.slice(0, 5));
    lines.forEach((line, i) => expect(line).toBe(`${String(first + i).padStart(5, '0')} ${'z'.repeat(44)}`));
  });

  it('hands each buffer back once its lines are written, across rotations, and never before', async () => {
    const dir = tempDir();
    const path = join(dir, 'app.log');
    const file = new RotatingFile(path, { maxSize: 4096, keep: 100, compress: false, highWaterMark: 1024 });
    // Few buffers, reused as soon as they come back and scribbled over when they do: a
    // release before the write would put '#'s in the file.
    const pool: Buffer[] = [];
    let allocated = 0;
    let released = 0;
    const expected: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const text = `${String(i).padStart(5, '0')} ${'r'.repeat(i % 150)}\n`;
      expected.push(text);
      let buffer = pool.pop();
      if (buffer === undefined) {
        buffer = Buffer.alloc(200);
        allocated += 1;
      }
      const length = buffer.write(text);
      const own = buffer;
      const ok = file.write(own.subarray(0, length), () => {
        released += 1;
        own.fill('#');
        pool.push(own);
      });
      if (!ok) await new Promise((resolve) => file.once('drain', resolve));
    }
    await file.close();
    expect(released).toBe(3000);
    expect(allocated).toBeLessThan(100);
    expect(readAll(path).text).toBe(expected.join(''));
  });

  it('hands buffers back when their lines are dropped (a full device)', async () => {
    const file = new RotatingFile('/dev/full', { maxSize: 10, keep: 2, compress: false, retryAfterMs: 60_000 });
    let released = 0;
    for (let i = 0; i < 20; i++) file.write(Buffer.from(`line ${i}\n`), () => { released += 1; });
    await file.flush();
    file.write(Buffer.from('dropped at once\n'), () => { released += 1; });
    await file.close();
    file.write(Buffer.from('after close\n'), () => { released += 1; });
    expect(released).toBe(22);
    expect(file.droppedLines).toBe(22);
  });

  it('refuses a symlink at the log path, reports it once and leaves the target alone', async () => {
    const dir = tempDir();
    const target = join(dir, 'shadow');
    writeFileSync(target, 'root:secret\n');
    const path = join(dir, 'web.log');
    symlinkSync(target, path);
    const reports: FileSinkReport[] = [];
    const file = new RotatingFile(path, { maxSize: 1000, keep: 2, compress: false, onReport: (r) => reports.push(r) });
    for (let i = 0; i < 5; i++) {
      file.write(Buffer.from(`evil ${i}\n`));
      await file.flush();
    }
    await file.close();
    expect(readFileSync(target, 'utf8')).toBe('root:secret\n');
    expect(reports).toEqual([{ kind: 'symlink', path }]);
    expect(file.droppedLines).toBe(5);
  });

  it('reports ENOSPC on a character device once, never renames it, and does not throw', async () => {
    const reports: FileSinkReport[] = [];
    const file = new RotatingFile('/dev/full', { maxSize: 10, keep: 2, compress: false, retryAfterMs: 0, onReport: (r) => reports.push(r) });
    for (let i = 0; i < 20; i++) {
      file.write(Buffer.from(`line ${i}\n`));
      await file.flush();
    }
    await file.close();
    expect(reports).toEqual([expect.objectContaining({ kind: 'failed', code: 'ENOSPC', path: '/dev/full' })]);
    expect(file.droppedLines).toBe(20);
    expect(existsSync('/dev/full.1')).toBe(false);
  });

  it('survives a full filesystem: reported once, lines counted as dropped, resumes when space returns', (ctx) => {
    const probe = spawnSync('unshare', ['--mount', 'true']);
    if (probe.status !== 0) {
      if (process.env.TEND_REQUIRE_NS === '1') throw new Error('unshare --mount fails here');
      ctx.skip();
    }
    const dir = tempDir();
    mkdirSync(join(dir, 'mnt'));
    const mnt = join(dir, 'mnt');
    const result = spawnSync(
      'unshare',
      ['--mount', 'sh', '-c', `mount -t tmpfs -o size=64k tend-test "${mnt}" && exec "${process.execPath}" "${fixture('disk-full')}" "${mnt}"`],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0); // still running to the end, exited normally
    const summary = JSON.parse(result.stdout) as { reports: FileSinkReport[]; droppedWhileFull: number; written: number; after: string };
    expect(summary.reports.map((r) => r.kind)).toEqual(['failed', 'resumed']);
    expect(summary.reports[0]).toMatchObject({ code: 'ENOSPC' });
    expect(summary.droppedWhileFull).toBeGreaterThan(1000);
    expect(summary.reports[1]).toMatchObject({ kind: 'resumed' });
    expect((summary.reports[1] as { droppedLines: number }).droppedLines).toBeGreaterThanOrEqual(summary.droppedWhileFull);
    // After the space came back: the 20 new lines, whole (a torn line is ended first).
    const after = summary.after.split('\n').filter((l) => l !== '');
    expect(after).toHaveLength(20);
    for (const line of after) expect(line).toMatch(/^line \d{6} x{80}$/);
  });

  // Finding 21 (reliability round two): the write that hit ENOSPC stopped inside a line;
  // its first part stayed in the file and, once space came back, was ended by a newline
  // of its own: a lone fragment such as `w-l` among whole lines.
  it('finding 21: ENOSPC leaves no torn fragment in the file', (ctx) => {
    const probe = spawnSync('unshare', ['--mount', 'true']);
    if (probe.status !== 0) {
      if (process.env.TEND_REQUIRE_NS === '1') throw new Error('unshare --mount fails here');
      ctx.skip();
    }
    const dir = tempDir();
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    const result = spawnSync(
      'unshare',
      ['--mount', 'sh', '-c', `mount -t tmpfs -o size=64k tend-test "${mnt}" && exec "${process.execPath}" "${fixture('disk-full-torn')}" "${mnt}"`],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(result.stderr).toBe('');
    const summary = JSON.parse(result.stdout) as { reports: FileSinkReport[]; written: number; released: number; lines: string[] };
    expect(summary.reports.map((r) => r.kind)).toEqual(['failed', 'resumed']);
    // Every buffer came back (written or dropped), none before its line was done with.
    expect(summary.released).toBe(summary.written);
    const lines = summary.lines.slice(0, -1); // the text after the last '\n' is ''
    expect(summary.lines.at(-1)).toBe('');
    expect(lines.length).toBeGreaterThan(20);
    expect(lines.filter((l) => !/^line \d{6} x{84}$/.test(l))).toEqual([]);
  });
});
