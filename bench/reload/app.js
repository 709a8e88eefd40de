// The reload benchmark's HTTP app: the anchor's http_app.js ("ok" to every
// request) plus what a production worker does on a rolling restart: on SIGTERM
// or SIGINT it stops accepting, answers what it holds, and exits.  Under tend it
// accepts on fd 3 (LISTEN_FDS=1, systemd's convention); elsewhere on $PORT.
const http = require('http');
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('ok\n');
});
if (process.env.LISTEN_FDS === '1' && Number(process.env.LISTEN_PID) === process.pid)
  server.listen({ fd: 3 });
else
  server.listen(Number(process.env.PORT), '127.0.0.1');
const bye = () => server.close(() => process.exit(0));
process.on('SIGTERM', bye);
process.on('SIGINT', bye);
