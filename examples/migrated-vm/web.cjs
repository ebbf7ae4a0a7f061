// The front: serves a page and proxies /api to the app (nginx's job on the VM).
const http = require('node:http');

const port = Number(process.env.WEB_PORT || 8080);
// 127.0.0.1 outside a container; 0.0.0.0 in one, so that a published port reaches it.
const host = process.env.WEB_HOST || '127.0.0.1';
const appPort = Number(process.env.APP_PORT || 8081);

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok\n');
  if (req.url.startsWith('/api')) {
    const upstream = http.request({ host: '127.0.0.1', port: appPort, path: req.url, method: req.method }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    upstream.on('error', () => { res.statusCode = 502; res.end('bad gateway\n'); });
    return req.pipe(upstream);
  }
  res.setHeader('content-type', 'text/html');
  res.end('<h1>migrated VM</h1><p>try <a href="/api">/api</a></p>\n');
});
server.listen(port, host, () => console.log(`web listening on ${host}:${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
