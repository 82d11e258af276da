// Loopback targets for running url.test.mjs and alerts.test.mjs by hand
// (the Go e2e test starts its own): prints the environment to export.
//   node web/e2e/url-targets.mjs [basePort]
import http from 'node:http';

const base = Number(process.argv[2] || 18811);
const host = '127.0.0.1';
http.createServer((_, res) => res.end('ok')).listen(base, host);
http.createServer((_, res) => { res.statusCode = 500; res.end('boom'); }).listen(base + 1, host);
const got = [];
http.createServer((req, res) => {
  if (req.method === 'GET' && req.url.endsWith('/received')) {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(got));
    return;
  }
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => { try { got.push(JSON.parse(body)); } catch { got.push(body); } res.end('{}'); });
}).listen(base + 2, host);
console.log(`OSPREY_URL_TARGET_OK=http://${host}:${base}/ OSPREY_URL_TARGET_BAD=http://${host}:${base + 1}/ OSPREY_WEBHOOK_URL=http://${host}:${base + 2}/hook`);
