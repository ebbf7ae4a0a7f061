// The application: a small HTTP API with a health endpoint and an access log file.
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');

const port = Number(process.env.APP_PORT || 8081);
const log = fs.createWriteStream(path.join(process.env.DATA_DIR || '/tmp', 'access.log'), { flags: 'a' });
let hits = 0;

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok\n');
  hits += 1;
  log.write(`${new Date().toISOString()} ${req.method} ${req.url}\n`);
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ hits, pid: process.pid }) + '\n');
});
server.listen(port, '127.0.0.1', () => console.log(`app listening on 127.0.0.1:${port}`));

// A graceful stop: finish in-flight requests, then exit 0 (tend passes the 0 on).
process.on('SIGTERM', () => {
  console.log('app: SIGTERM, closing');
  server.close(() => process.exit(0));
});
