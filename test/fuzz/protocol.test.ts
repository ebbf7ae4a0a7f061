// Fuzzing the control protocol against a live tend: random bytes, random JSON, requests
// that look valid but carry wrong argument types, lines over the limit, partial lines,
// half-closed and reset connections. Nothing may crash or stall tend: after every case a
// `status` on a fresh connection answers within 1 s, and at the end tend still shuts
// down cleanly with every service where it was.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { connect } from 'node:net';
import { requestSchemas, COMMANDS } from '../../src/control/protocol';
import { startTend, waitFor, type RunningTend } from '../helpers/tend';
import { request, scenario, status } from '../faults/helpers';

const requestArgs = requestSchemas().args;

// Commands that change something when their arguments happen to be valid: the fuzzer
// may send them only with arguments the protocol refuses.
const DESTRUCTIVE = new Set(['start', 'stop', 'restart', 'signal', 'reload', 'shutdown']);
const ARG_KEYS: Record<string, string[]> = Object.fromEntries(COMMANDS.map((cmd) => [cmd, Object.keys((requestArgs[cmd] as unknown as { shape: object }).shape)]));

const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
  side: { command: [svc, side] }
  chatty: { command: sh -c 'while :; do echo "chat"; sleep 0.2; done' }
`);
let tend: RunningTend;

beforeAll(async () => {
  tend = startTend(['run', '-c', t.file], { env: t.env });
  await waitFor(async () => (await status(t.socket)).services.every((s) => s.state === 'running'), { what: 'services to run' });
});
afterAll(() => {
  tend.child.kill('SIGKILL');
});

const anyJson = fc.jsonValue({ maxDepth: 3 });
const wrongArgsRequest = fc.constantFrom(...COMMANDS).chain((cmd) =>
  fc.record({
    id: fc.oneof(fc.nat(), fc.string({ maxLength: 8 }), fc.constant(null), fc.double(), fc.constant(-1)),
    cmd: fc.oneof({ weight: 5, arbitrary: fc.constant(cmd) }, { weight: 1, arbitrary: fc.constantFrom(`${cmd} `, cmd.toUpperCase(), '__proto__', 'constructor', 'toString', '') }),
    args: fc.oneof(
      fc.dictionary(fc.constantFrom(...(ARG_KEYS[cmd] ?? []), 'bogus', '__proto__'), fc.oneof(anyJson, fc.constantFrom(-1, 2 ** 31, 1e308, 'SIGKILL', 0, 9, '', 'app', ['app', 5], ['no-such']))),
      anyJson,
    ),
  }, { requiredKeys: ['id', 'cmd'] }),
).filter((request) => {
  if (!DESTRUCTIVE.has(String(request.cmd))) return true;
  const schema = requestArgs[request.cmd as keyof typeof requestArgs];
  return !schema.safeParse(request.args ?? {}).success;
});

const HUGE = 'x'.repeat(70 * 1024);
const payload = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 3, arbitrary: anyJson.map((value) => Buffer.from(`${JSON.stringify(value)}\n`)) },
  { weight: 6, arbitrary: wrongArgsRequest.map((value) => Buffer.from(`${JSON.stringify(value)}\n`)) },
  { weight: 1, arbitrary: fc.constantFrom(
    Buffer.from(`{"id":1,"cmd":"status","args":{"names":["${HUGE}"]}}\n`),
    Buffer.from(HUGE), // over the limit with no newline at all
    Buffer.from('{"id":1,"cmd":"status"'), // a partial line, then the connection ends
    Buffer.from('\n\n\r\n   \n'),
    Buffer.from([0xff, 0xfe, 0x0a, 0xc3, 0x28, 0x0a]), // invalid UTF-8 lines
    Buffer.from('{"id":1,"cmd":"events","args":{}}\n'), // a follower that never reads
    Buffer.from('{"id":2,"cmd":"logs","args":{"name":"chatty","follow":true}}\n'),
    Buffer.from('{"id":3,"cmd":"wait","args":{"name":"side","until":"stopped"}}\n'),
    Buffer.from(`${'{"id":1,"cmd":"version"}\n'.repeat(500)}`), // a flood of requests in one write
  ) },
);

/** Sends the bytes in random pieces, lingers a little, then closes in one of three ways. */
function fire(bytes: Buffer, cuts: number[], ending: 'end' | 'destroy' | 'linger'): Promise<void> {
  return new Promise((done) => {
    const s = connect(t.socket);
    s.on('error', () => {});
    // A follower (events, logs -f) that half-closed is still streamed to: tend ends it
    // only when the client closes, so the client gives up after a moment.
    const giveUp = setTimeout(() => s.destroy(), 100);
    s.on('close', () => {
      clearTimeout(giveUp);
      done();
    });
    s.on('connect', () => {
      let at = 0;
      for (const cut of [...cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]) {
        if (cut > at) s.write(bytes.subarray(at, cut));
        at = Math.max(at, cut);
      }
      if (ending === 'end') s.end();
      else if (ending === 'destroy') s.destroy();
      else setTimeout(() => s.destroy(), 20);
    });
  });
}

describe('fuzz: the control protocol against a live tend', () => {
  it('no input crashes or stalls tend: status on a fresh connection answers within 1 s after every case (bounded to ~15 s)', async () => {
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(payload, fc.array(fc.nat(), { maxLength: 4 }), fc.constantFrom('end' as const, 'destroy' as const, 'linger' as const), async (bytes, cuts, ending) => {
        cases += 1;
        await fire(bytes, cuts, ending);
        const reply = await request(t.socket, 'status', {}, 1000);
        expect(reply.ok).toBe(true);
      }),
      { numRuns: 3000, interruptAfterTimeLimit: 15_000, markInterruptAsFailure: false },
    );
    expect(cases).toBeGreaterThan(100);
    console.log(`protocol fuzz: ${cases} cases`);

    // Every service is where it was; tend logged no internal error and stops cleanly.
    const doc = await status(t.socket);
    expect(doc.services.map((s) => [s.name, s.state])).toEqual([['app', 'running'], ['side', 'running'], ['chatty', 'running']]);
    expect(doc.services.every((s) => s.restarts === 0)).toBe(true);
    expect(tend.stderr).not.toMatch(/internal error/);
    expect(tend.child.exitCode).toBeNull();
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
    expect(t.events()).toEqual(expect.arrayContaining(['stop side', 'stop app']));
  }, 60_000);
});
