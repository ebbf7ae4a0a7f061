// tend's layers, enforced by `npm run lint` (dependency-cruiser). Data flows one way:
// config → plan → supervisor → process → native, with the control socket, HTTP and
// logging at the edges. docs/ARCHITECTURE.md explains what each layer owns; this file is
// what keeps the code honest about it. A rule names the layer and what it may not reach.

/** Each layer and the layers (besides itself, vocab and npm packages) it may import. */
const layers = {
  vocab: [],                       // shared words: signals, exit status, formatting
  config: [],                      // YAML → validated manifest; knows no runtime
  plan: ['config'],                // the frozen Plan and its graph
  log: ['plan'],                   // every sentence tend logs; the sinks
  process: ['native', 'plan'],     // spawning, reaping, signalling, /proc and cgroups
  supervisor: ['plan', 'process', 'log'], // the event loop and the pure lifecycle core
  control: ['plan', 'log', 'native', 'supervisor-face'], // the socket: above the supervisor
  http: ['control', 'log', 'supervisor-face'],
  import: ['config'],              // tend import: other formats → a manifest
  cli: ['control', 'config', 'plan', 'log'], // client commands' output
};

const path = {
  vocab: '^src/vocab/',
  config: '^src/config/',
  plan: '^src/plan/',
  log: '^src/log/',
  process: '^src/process/',
  supervisor: '^src/supervisor/',
  'supervisor-face': '^src/supervisor/index[.]ts$',
  control: '^src/control/',
  http: '^src/http/',
  import: '^src/import/',
  cli: '^src/cli/',
  native: '^native/',
};

const forbidden = [
  {
    name: 'no-cycles',
    comment: 'A cycle makes two modules one: no layer, no file, may reach itself again.',
    severity: 'error',
    from: {},
    to: { circular: true },
  },
  {
    name: 'native-is-the-bottom',
    comment: 'native/ talks to libc and libtend for everyone; it imports nothing of tend.',
    severity: 'error',
    from: { path: '^native/' },
    to: { path: '^src/' },
  },
  {
    name: 'only-roots-wire',
    comment: 'src/roots/ holds the composition roots (tend run, tini mode, check, client, top, import): nothing imports them but each other.',
    severity: 'error',
    from: { pathNot: '^src/roots/' },
    to: { path: '^src/roots/' },
  },
  {
    name: 'one-spawner',
    comment: 'Processes are started by libtend (src/process/spawn.ts) only: a child_process child would be reaped by libtend and lost to libuv.',
    severity: 'error',
    from: { path: '^src/|^native/.*[.]ts$' },
    to: { path: '^(node:)?child_process$' },
  },
  {
    name: 'core-has-one-entry',
    comment: 'src/supervisor/core/ holds the pure core by concern; everything else reaches it through core.ts (step and its types) only.',
    severity: 'error',
    from: { pathNot: '^src/supervisor/core([.]ts$|/)' },
    to: { path: '^src/supervisor/core/' },
  },
  {
    name: 'one-ffi-importer',
    comment: 'native/libc.ts is the only importer of ffi-rs.',
    severity: 'error',
    from: { path: '^src/' },
    to: { path: 'ffi-rs' },
  },
];

for (const [layer, allowed] of Object.entries(layers)) {
  const reachable = [layer, 'vocab', ...allowed].map((name) => path[name]);
  forbidden.push({
    name: `layer-${layer}`,
    comment: `${layer} may import only ${[...allowed, 'vocab'].join(', ')} (and npm packages).`,
    severity: 'error',
    from: { path: path[layer] },
    to: { path: '^(src|native)/', pathNot: reachable.join('|') },
  });
}

// The pure core's modules (src/supervisor/core/), top to bottom as docs/ARCHITECTURE.md
// lists them: each may import only those after it, so decisions flow one way — a request
// or a fact reaches the concern that answers it, which calls down into the moves beneath.
const coreOrder = [
  'requests', 'apply-reload', 'schedules', 'exits', 'readiness', 'start', 'shutdown', 'hooks',
  'stop', 'job-record', 'after-run', 'run', 'draft', 'exit-status', 'types', 'lookup', 'constants',
];
coreOrder.forEach((module, index) => {
  const above = coreOrder.slice(0, index + 1);
  forbidden.push({
    name: `core-order-${module}`,
    comment: `src/supervisor/core/${module}.ts may import only the core modules listed after it (${coreOrder.slice(index + 1).join(', ') || 'none'}).`,
    severity: 'error',
    from: { path: `^src/supervisor/core/${module}[.]ts$` },
    to: { path: `^src/supervisor/core/(${above.join('|')})[.]ts$` },
  });
});

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    // package.json is read for the version by the roots only.
    exclude: { path: '^(dist|node_modules)/' },
  },
};
