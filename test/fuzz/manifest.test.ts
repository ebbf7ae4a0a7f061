// Fuzzing the manifest pipeline: the examples' manifests, mutated (keys deleted or
// renamed, values swapped for values of other types, YAML syntax corrupted). The config
// API must never throw: it returns a plan, or problems that each carry the file, a line
// and column, and a message. A sample also goes through the built `tend check`: exit 0,
// or 2 with `file:line:col: path: message` lines and no stack trace.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { loadPlan, formatIssue } from '../../src/plan';
import { ROOT, runTendSync, tempDir } from '../helpers/tend';

const EXAMPLES = join(ROOT, 'examples');
const examples = readdirSync(EXAMPLES)
  .filter((name) => readdirSync(join(EXAMPLES, name)).includes('tend.yaml'))
  .map((name) => {
    // A copy of the example's directory, so env_file and cwd resolve as they would.
    const dir = tempDir(`tend-fuzz-${name}-`);
    cpSync(join(EXAMPLES, name), dir, { recursive: true });
    return { name, dir, text: readFileSync(join(dir, 'tend.yaml'), 'utf8') };
  });
const ENV = { PATH: process.env.PATH ?? '', HOME: '/root', LOG_DIR: '/tmp/tend-fuzz-logs' };
const cgroupWritable = () => ({ ok: true as const });

// ---- mutations ----------------------------------------------------------------------

type Json = unknown;
type Mutation =
  | { kind: 'delete'; pick: number }
  | { kind: 'rename'; pick: number; to: string }
  | { kind: 'swap'; pick: number; value: Json };

const weirdValue = fc.oneof(
  fc.constantFrom<Json>(
    null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, '', ' ', '0600', '0777', 600, '9999999h', '-5s', '1e3ms', 'NaN', '10XB',
    'SIGNOPE', 'SIGKILL', 9, 64, 'always', 'sometimes', 'oneshot', 'cgroup', '* * * * *', '61 * * * *', 'not a cron',
    '${UNSET_VAR}', '${X:?boom}', '${LOG_DIR:-x}', '$$', '${', '127.0.0.1:99999', 'http://[::1', '../../../../etc/shadow',
    [], [''], ['a', 1], {}, { policy: 'never' }, { condition: 'ready' }, { app: { condition: 'completed' } }, '\u0000', 'ü'.repeat(300),
  ),
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 2 }),
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }),
  fc.record({
    kind: fc.constant('rename' as const),
    pick: fc.nat(),
    to: fc.oneof(fc.constantFrom('comand', 'dependson', 'main', 'services', 'settings', 'x-ext', 'restart', '', '__proto__', 'constructor', 'app'), fc.string({ maxLength: 12 })),
  }),
  fc.record({ kind: fc.constant('swap' as const), pick: fc.nat(), value: weirdValue }),
);

/** Every (container, key) pair in the document, depth first. */
function slots(root: Json): Array<[Record<string, Json> | Json[], string | number]> {
  const out: Array<[Record<string, Json> | Json[], string | number]> = [];
  const walk = (node: Json): void => {
    if (Array.isArray(node)) node.forEach((child, i) => { out.push([node, i]); walk(child); });
    else if (node !== null && typeof node === 'object') {
      for (const [key, child] of Object.entries(node)) { out.push([node as Record<string, Json>, key]); walk(child); }
    }
  };
  walk(root);
  return out;
}

function mutate(text: string, mutations: readonly Mutation[]): string {
  const doc = parse(text) as Json;
  for (const m of mutations) {
    const all = slots(doc);
    if (all.length === 0) break;
    const [container, key] = all[m.pick % all.length]!;
    if (Array.isArray(container)) {
      if (m.kind === 'delete') container.splice(key as number, 1);
      else if (m.kind === 'swap') container[key as number] = m.value;
      else container[key as number] = m.to;
    } else if (m.kind === 'delete') delete container[key as string];
    else if (m.kind === 'swap') container[key as string] = m.value;
    else {
      const value = container[key as string];
      delete container[key as string];
      Object.defineProperty(container, m.to, { value, enumerable: true, configurable: true, writable: true });
    }
  }
  return stringify(doc);
}

const corruption = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('insert', 'delete', 'duplicate-line', 'truncate', 'tab-indent'),
  text: fc.constantFrom(':', ': ', '-', '- ', '{', '}', '[', ']', '\t', '  ', '\n', '"', "'", '&a', '*a', '<<: *a', '!!binary', '%YAML 1.1\n', '#', '|', '>', '? ', ',', '\u00a0', '\r'),
});

function corrupt(text: string, c: { at: number; op: string; text: string }): string {
  const at = c.at % (text.length + 1);
  switch (c.op) {
    case 'insert': return text.slice(0, at) + c.text + text.slice(at);
    case 'delete': return text.slice(0, at) + text.slice(at + 1 + (c.at % 3));
    case 'truncate': return text.slice(0, at);
    case 'tab-indent': return text.replace(/\n {2}/, '\n\t');
    default: {
      const lines = text.split('\n');
      const i = c.at % lines.length;
      lines.splice(i, 0, lines[i]!);
      return lines.join('\n');
    }
  }
}

const mutatedManifest = fc.record({
  example: fc.nat({ max: examples.length - 1 }),
  mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }),
  corruptions: fc.array(corruption, { maxLength: 2 }),
}).map(({ example, mutations, corruptions }) => {
  const source = examples[example]!;
  let text = mutate(source.text, mutations);
  for (const c of corruptions) text = corrupt(text, c);
  return { example: source, text };
});

// ---- properties ---------------------------------------------------------------------

const LOCATED = /^(?<file>[^:]+):(?<line>\d+):(?<col>\d+): (?:(?<path>[^:]+): )?(?<message>.+)$/s;

function checkIssues(file: string, text: string, issues: readonly { line: number | null; col: number | null; message: string; path: string }[]): void {
  expect(issues.length).toBeGreaterThan(0);
  const lineCount = text.split('\n').length;
  for (const issue of issues) {
    const formatted = formatIssue({ ...issue, file });
    expect(issue.message.trim(), formatted).not.toBe('');
    expect(formatted).not.toMatch(/\[object Object\]|undefined|NaN:/);
    expect(issue.line, `no position: ${formatted}`).not.toBeNull();
    expect(formatted).toMatch(LOCATED);
    expect(issue.line!).toBeGreaterThanOrEqual(1);
    expect(issue.line!).toBeLessThanOrEqual(lineCount + 1);
    expect(issue.col!).toBeGreaterThanOrEqual(1);
  }
}

describe('fuzz: mutated example manifests', () => {
  it('the config API never throws: a plan, or located problems (bounded to ~12 s)', async () => {
    const dirs = new Map(examples.map((e) => [e.name, e.dir]));
    let runs = 0;
    let valid = 0;
    await fc.assert(
      fc.asyncProperty(mutatedManifest, async ({ example, text }) => {
        runs += 1;
        const file = join(dirs.get(example.name)!, 'fuzzed.yaml');
        writeFileSync(file, text);
        const result = await loadPlan(file, ENV, { cgroupWritable });
        if (result.ok) {
          valid += 1;
          expect(result.plan.services.length).toBeGreaterThan(0);
        } else {
          checkIssues(file, text, result.issues);
        }
      }),
      { numRuns: 4000, interruptAfterTimeLimit: 12_000, markInterruptAsFailure: false },
    );
    // Enough cases ran to mean something, and the mutations are not all fatal.
    expect(runs).toBeGreaterThan(200);
    console.log(`manifest fuzz: ${runs} mutated manifests, ${valid} still valid`);
  }, 30_000);

  it('`tend check` on a sample: exit 0, or 2 with located lines and no stack trace', () => {
    const samples = fc.sample(mutatedManifest, { numRuns: 8, seed: 20_260_909 });
    for (const { example, text } of samples) {
      const file = join(example.dir, 'fuzzed-cli.yaml');
      writeFileSync(file, text);
      const result = runTendSync(['check', '-c', file], { env: { LOG_DIR: '/tmp/tend-fuzz-logs' } });
      expect([0, 2], result.stderr).toContain(result.code);
      expect(result.stderr).not.toMatch(/\n\s+at |TypeError|ReferenceError|internal error/);
      if (result.code === 2) {
        const lines = result.stderr.split('\n').filter((l) => l !== '' && !l.includes('warning: '));
        expect(lines.at(-1)).toMatch(/^tend: .*: \d+ problems?; nothing was started$/);
        for (const line of lines.slice(0, -1)) expect(line).toMatch(LOCATED);
      }
    }
  }, 30_000);
});

describe('regressions found by the manifest fuzzer', () => {
  const load = async (yaml: string, env: NodeJS.ProcessEnv = process.env) => {
    const file = join(tempDir('tend-fuzz-regression-'), 'tend.yaml');
    writeFileSync(file, yaml);
    return loadPlan(file, env, { cgroupWritable });
  };

  it('depends-on-constructor: a dependency on "constructor" (an Object.prototype key) is an unknown service, not a thrown "dependency cycle"', async () => {
    const result = await load('services:\n  app:\n    main: true\n    command: [sleep, "1"]\n    depends_on: [constructor]\n');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => formatIssue(i))).toEqual([expect.stringMatching(/:5:18: services\.app\.depends_on\.0: unknown service "constructor"/)]);
  });

  it('interpolate-prototype: ${constructor} and env: { toString: null } read only real variables, never Object.prototype', async () => {
    const result = await load('services:\n  app:\n    command: "echo ${constructor}-${hasOwnProperty:-fallback}"\n    env: { toString: null, valueOf: "set" }\n');
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const app = result.plan.services[0]!;
    expect(app.command.argv.join(' ')).toBe('/bin/sh -c echo -fallback');
    expect(Object.hasOwn(app.env, 'toString')).toBe(false);
    expect(app.env.valueOf).toBe('set');
    expect(JSON.stringify(app.env)).not.toMatch(/native code/);
  });

  it('yaml-unresolved-alias: an alias with no anchor before it, or an alias bomb, is a located problem (exit 2), not an internal error (exit 70)', async () => {
    const dangling = await load('services:\n  app:\n    command: [sleep, "1"]\n    ready: *nowhere\n');
    expect(dangling.ok).toBe(false);
    if (!dangling.ok) expect(formatIssue(dangling.issues[0]!)).toMatch(/:4:12: invalid YAML: alias \*nowhere refers to no anchor defined before it$/);

    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
    const bomb = await load(`x-bomb:\n${levels.map((l) => `  ${l}`).join('\n')}\nservices:\n  app: { command: [sleep, "1"] }\n`);
    expect(bomb.ok).toBe(false);
    if (!bomb.ok) expect(formatIssue(bomb.issues[0]!)).toMatch(/:\d+:\d+: invalid YAML: Excessive alias count/);

    const file = join(tempDir('tend-fuzz-regression-'), 'tend.yaml');
    writeFileSync(file, 'services:\n  app: { command: *x }\n');
    const cli = runTendSync(['check', '-c', file]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/alias \*x refers to no anchor/);
  });

  it('yaml-merge-scalar: a merge key whose source is not a map is a located problem, not an internal error', async () => {
    const result = await load('settings:\n  <<: ""\nservices:\n  app: { command: [sleep, "1"] }\n');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(formatIssue(result.issues[0]!)).toMatch(/:2:3: invalid YAML: Merge sources must be maps or map aliases$/);
  });

  it('yaml-proto-key: a service named __proto__ is a located problem, not silently dropped', async () => {
    const result = await load('services:\n  app: { command: [sleep, "1"] }\n  __proto__:\n    command: [sleep, "1"]\n');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.map((i) => formatIssue(i))).toEqual([expect.stringMatching(/:3:3: services\.__proto__: a key named __proto__ is not allowed$/)]);
  });
});
