// A monitoring agent: checks the front every 5 s and reports changes.
const http = require('node:http');
const port = Number(process.env.WEB_PORT || 8080);
let last = null;

function check() {
  const req = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: 2000 }, (res) => {
    res.resume();
    report(res.statusCode === 200 ? 'up' : `HTTP ${res.statusCode}`);
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (error) => report(`down (${error.message})`));
}
function report(state) {
  if (state !== last) console.log(`monitor: web is ${state}`);
  last = state;
}
check();
setInterval(check, 5000);
process.on('SIGTERM', () => process.exit(0));
