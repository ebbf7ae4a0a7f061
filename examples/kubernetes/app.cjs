// A minimal HTTP app for the Kubernetes example.
const http = require('node:http');
const port = Number(process.env.PORT || 8080);
const server = http.createServer((req, res) => res.end(req.url === '/healthz' ? 'ok\n' : 'hello from the pod\n'));
server.listen(port, '0.0.0.0', () => console.log(`app listening on :${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
