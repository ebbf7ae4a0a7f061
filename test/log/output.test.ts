import { EventEmitter } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RotatingFile } from '../../src/log/filesink';
import { OutputRouter, type OutputSink } from '../../src/log/output';
import { RingBuffer } from '../../src/log/ring';
import { tempDir } from '../helpers/tend';
import { lineKernel } from '../../native/lines';
import { collector, exitOf, nodeChild } from './helpers';

const sink = (over: Partial<OutputSink> = {}): OutputSink => ({ console: 'prefix', file: null, ring: null, ...over });

/** Routes a child's stdout and stderr and waits for both to end. */
async function route(router: OutputRouter, name: string, script: string, over: Partial<OutputSink> = {}) {
  const child = nodeChild(script);
  const s = sink(over);
  await Promise.all([router.attach(name, 'stdout', child.stdout!, s), router.attach(name, 'stderr', child.stderr!, s), exitOf(child)]);
}

describe('OutputRouter', () => {
  it('gives 6,000 whole, correctly labelled lines from two services printing at once', async () => {
    const out = collector();
    const err = collector();
    const router = new OutputRouter({ format: 'text', stdout: out.writer, stderr: err.writer });
    router.setServiceNames(['alpha', 'b']);
    // One write per line, of varying length: the reads tend sees cut lines anywhere.
    const printer = "const n = process.argv[1]; for (let i = 0; i < 3000; i++) process.stdout.write(`${n} ${i} ${'x'.repeat(i % 170)}\\n`);";
    const started = Date.now();
    await Promise.all([route(router, 'alpha', printer.replace('process.argv[1]', "'alpha'")), route(router, 'b', printer.replace('process.argv[1]', "'b'"))]);
    const text = await out.close();
    expect(await err.close()).toBe("");
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(6000);
    const next: Record<string, number> = { alpha: 0, b: 0 };
    for (const line of lines) {
      const match = /^(alpha|b    ) \| (\w+) (\d+) (x*)$/.exec(line);
      expect(match, line).not.toBeNull();
      const [, label, name, index, xs] = match!;
      expect(label!.trim()).toBe(name);
      expect(Number(index)).toBe(next[name!]); // every line, once, in order
      expect(xs!.length).toBe(Number(index) % 170);
      next[name!]! += 1;
    }
    expect(next).toEqual({ alpha: 3000, b: 3000 });
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('sends stderr to the stderr writer and keeps the last lines in the ring', async () => {
    const out = collector();
    const err = collector();
    const router = new OutputRouter({ format: 'text', stdout: out.writer, stderr: err.writer });
    const ring = new RingBuffer({ maxLines: 3 });
    await route(router, 'web', "console.log('to out'); console.error('to err'); console.log('more'); console.log('last')", { ring });
    expect(await out.close()).toBe('web | to out\nweb | more\nweb | last\n');
    expect(await err.close()).toBe('web | to err\n');
    expect(ring.last().map((l) => l.text)).toEqual(expect.arrayContaining(['more', 'last']));
    expect(ring.size).toBe(3);
  });

  it('in json mode emits only valid JSON records, whatever the service prints', async () => {
    const out = collector();
    const err = collector();
    const router = new OutputRouter({ format: 'json', stdout: out.writer, stderr: err.writer });
    const script = String.raw`
      process.stdout.write('plain\n"quoted" \\ back\tslash\n\x01\x1b[31mred\x1b[0m\n\n');
      process.stdout.write(Buffer.from([0xff, 0xfe, 0x41, 0x0a]));
      process.stdout.write('emoji 🚀\nno newline at the end');
      process.stderr.write('an error\n');`;
    await route(router, 'api "x"', script);
    const records = (await out.close()).split('\n');
    expect(records.pop()).toBe('');
    const parsed = records.map((r) => JSON.parse(r) as Record<string, unknown>);
    expect(parsed.map((r) => r.msg)).toEqual(['plain', '"quoted" \\ back\tslash', '\x01\x1b[31mred\x1b[0m', '', '\ufffd\ufffdA', 'emoji 🚀', 'no newline at the end']);
    for (const r of parsed) {
      expect(r).toMatchObject({ level: 30, service: 'api "x"', stream: 'stdout' });
      expect(new Date(r.time as string).toISOString()).toBe(r.time);
    }
    const errors = (await err.close()).trim().split('\n').map((r) => JSON.parse(r) as Record<string, unknown>);
    expect(errors).toEqual([expect.objectContaining({ level: 50, stream: 'stderr', msg: 'an error' })]);
  });

  it('splits lines over 64 KiB instead of dropping them, and flushes the final partial line at EOF', async () => {
    const out = collector();
    const err = collector();
    const router = new OutputRouter({ format: 'text', stdout: out.writer, stderr: err.writer });
    await route(router, 'big', "process.stdout.write('A'.repeat(200000) + '\\nshort\\ntail without newline')", { console: 'raw' });
    const lines = (await out.close()).split('\n');
    await err.close();
    expect(lines.map((l) => l.length)).toEqual([65536, 65536, 65536, 200000 - 3 * 65536, 5, 20, 0]);
    expect(lines.slice(0, 4).join('')).toBe('A'.repeat(200000));
    expect(lines[5]).toBe('tail without newline');
  });

  it('calls onLine for every line while it is set, and none mode still feeds the ring', async () => {
    const out = collector();
    const err = collector();
    const router = new OutputRouter({ format: 'text', stdout: out.writer, stderr: err.writer });
    const seen: string[] = [];
    const ring = new RingBuffer();
    await route(router, 'quiet', "console.log('one'); console.log('listening on 8080'); console.error('warn')", {
      console: 'none',
      ring,
      onLine: (line, stream) => seen.push(`${stream}:${line}`),
    });
    expect(await out.close()).toBe('');
    await err.close();
    expect(seen.sort()).toEqual(['stderr:warn', 'stdout:listening on 8080', 'stdout:one']);
    expect(ring.size).toBe(3);
  });
});

/**
 * A source like a service's pipe in tend (src/process/spawn.ts): every read lands in the
 * same buffer, valid only during onChunk — here scribbled over right after, so a sink
 * that kept a read without copying it would show '#'s. Reads are cut at sizes that
 * split lines anywhere; pause() holds the next read until resume().
 */
function transientSource(data: Buffer, sizes: readonly number[]) {
  const source = new EventEmitter() as EventEmitter & {
    onChunk: ((chunk: Buffer) => void) | null;
    handTo(onChunk: (chunk: Buffer) => void): void;
    pause(): void;
    resume(): void;
  };
  const shared = Buffer.alloc(Math.max(...sizes));
  let at = 0;
  let paused = false;
  let turn = 0;
  const pump = () => {
    while (!paused && at < data.length) {
      const size = Math.min(sizes[turn++ % sizes.length]!, data.length - at);
      data.copy(shared, 0, at, at + size);
      at += size;
      source.onChunk!(shared.subarray(0, size));
      shared.fill('#');
    }
    if (at >= data.length) setImmediate(() => source.emit('end'));
  };
  source.onChunk = null;
  source.handTo = (onChunk) => {
    source.onChunk = onChunk;
    setImmediate(pump);
  };
  source.pause = () => { paused = true; };
  source.resume = () => {
    if (!paused) return;
    paused = false;
    setImmediate(pump);
  };
  return source as unknown as Readable;
}

const kernel = lineKernel();

describe.each([
  ['in JavaScript', undefined],
  ['with the native line kernel', kernel === null ? null : () => kernel],
] as const)('OutputRouter with reads into one reused buffer, prefixing %s', (_, kernelOption) => {
  const options = { format: 'text' as const, ...(kernelOption ? { kernel: kernelOption } : {}) };
  const skip = (ctx: { skip(note?: string): void }) => {
    if (kernelOption !== null) return;
    console.warn('skipped: native/build/tend-lines.node was not built (no Node-API headers?)');
    ctx.skip('tend-lines.node not built');
  };

  it('gives the console, the file and the ring the exact text, with partial, long and CR lines across reads', async (ctx) => {
    skip(ctx);
    const parts: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      parts.push(i % 997 === 0 ? `${i} ${'L'.repeat(70_000)}\n` : i % 13 === 0 ? `${i} crlf\r\n` : `${i} ${'x'.repeat((i * 31) % 180)}\n`);
      // Runs of empty lines after long ones: more lines in a read than its buffer was sized for.
      if (i % 4999 === 0) parts.push('\n'.repeat(40_000));
    }
    const data = Buffer.from(parts.join('') + 'no newline at the end');
    // What tend makes of it: lines over 64 KiB cut into pieces, the last line ended.
    const lines = data.toString().split('\n').flatMap((line) => {
      const pieces: string[] = [];
      for (let at = 0; at < line.length || pieces.length === 0; at += 64 * 1024) pieces.push(line.slice(at, at + 64 * 1024));
      return pieces;
    });
    const dir = tempDir();
    const path = join(dir, 'svc.log');
    const file = new RotatingFile(path, { maxSize: 512 * 1024, keep: 100, compress: false, highWaterMark: 256 * 1024 });
    const ring = new RingBuffer({ maxLines: 50 });
    const out = collector({ writer: { highWaterMark: 128 * 1024 } });
    const router = new OutputRouter({ ...options, stdout: out.writer, stderr: out.writer });
    router.setServiceNames(['svc']);
    await router.attach('svc', 'stdout', transientSource(data, [65_536, 1, 4093, 100_000, 77, 65_536, 30_000]), sink({ file, ring }));
    await file.close();
    const text = await out.close();
    expect(text).toBe(lines.map((line) => `svc | ${line}\n`).join(''));
    const files = readdirSync(dir).filter((name) => name !== 'svc.log').sort((a, b) => Number(b.split('.').pop()) - Number(a.split('.').pop()));
    expect(files.length).toBeGreaterThan(5);
    expect([...files, 'svc.log'].map((name) => readFileSync(join(dir, name), 'utf8')).join('')).toBe(lines.map((line) => `${line}\n`).join(''));
    expect(ring.last(50).map((l) => l.text)).toEqual(lines.slice(-50));
  });

  it('raw mode writes each read once, copied; the ring counts what it keeps', async (ctx) => {
    skip(ctx);
    const data = Buffer.from(Array.from({ length: 30_000 }, (_, i) => `raw ${i}\n`).join(''));
    const out = collector({ writer: { highWaterMark: 64 * 1024 } });
    const ring = new RingBuffer({ maxLines: 100 });
    const router = new OutputRouter({ ...options, stdout: out.writer, stderr: out.writer });
    await router.attach('svc', 'stdout', transientSource(data, [8192, 3, 65_536]), sink({ console: 'raw', ring }));
    expect(await out.close()).toBe(data.toString());
    expect(ring.size).toBe(100);
    expect(ring.last(3).map((l) => l.text)).toEqual(['raw 29997', 'raw 29998', 'raw 29999']);
  });
});

describe('the native line kernel', () => {
  it.skipIf(kernel === null)('prefixes lines from an offset, says the size it needs, and counts lines', () => {
    const k = kernel!;
    const count = new Int32Array(1);
    const dst = Buffer.alloc(40, '.');
    expect(k.prefixLines(Buffer.from('a\n\nbb\nlast'), Buffer.from('p | '), dst, 2, count)).toBe(26);
    expect(count[0]).toBe(4);
    expect(dst.toString()).toBe('..p | a\np | \np | bb\np | last............');
    expect(k.prefixLines(Buffer.from('a\nb\n'), Buffer.from('p | '), Buffer.alloc(0), 0, count)).toBe(-12);
    expect(k.prefixLines(Buffer.from('a\nb\n'), Buffer.from('p | '), Buffer.alloc(12), 1, count)).toBe(-12);
    expect(k.prefixLines(Buffer.alloc(0), Buffer.from('p | '), Buffer.alloc(0), 0, count)).toBe(0);
    expect(count[0]).toBe(0);
    expect(k.countLines(Buffer.from('a\n\nb'))).toBe(2);
    const lines = Buffer.from('a\nbb\nccc\n');
    expect([0, 1, 2, 3, 4].map((n) => k.lastLinesStart(lines, n))).toEqual([9, 5, 2, 0, 0]);
    expect(k.lastLinesStart(Buffer.from('\n\n\n'), 2)).toBe(1);
    expect(k.lastLinesStart(Buffer.alloc(0), 2)).toBe(0);
    expect(k.countLines(Buffer.from('x'.repeat(100) + '\n').subarray(50))).toBe(1);
    expect(() => k.prefixLines('a\n' as unknown as Uint8Array, Buffer.from('p'), dst, 0, count)).toThrow(/prefixLines\(src/);
    expect(() => k.prefixLines(Buffer.from('a\n'), Buffer.from('p'), dst, 41, count)).toThrow(TypeError);
  });
  if (kernel === null) console.warn('skipped: native/build/tend-lines.node was not built (no Node-API headers?)');
});
