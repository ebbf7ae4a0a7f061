// A single-process server that leaves zombies behind (a child it never waits for) and
// shuts down gracefully on SIGTERM or SIGINT — the case tini exists for.
const http = require('node:http');
const { spawn } = require('node:child_process');

const port = Number(process.env.PORT || 8080);
// 127.0.0.1 outside a container; 0.0.0.0 in one, so that a published port reaches it.
const host = process.env.HOST || '127.0.0.1';
const server = http.createServer((req, res) => {
  // A grandchild that double-forks and is never waited for: tend reaps it.
  spawn('sh', ['-c', '(sleep 0.1 &) ; exit 0'], { stdio: 'ignore', detached: true }).unref();
  res.end('hello\n');
});
server.listen(port, host, () => console.log(`server listening on ${host}:${port}`));
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    console.log(`server: ${signal}, closing`);
    server.close(() => process.exit(0));
  });
}
