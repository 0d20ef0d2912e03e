// A stand-in proxy that only records how a client talks to its proxy: for each connection it
// appends the first line the client sends (`CONNECT host:port HTTP/1.1`, or an absolute-form
// `GET https://… HTTP/1.1`) to LOG_FILE, then answers 502 and closes (a bare close makes undici
// retry without end). The clients fail; the line shows the shape they send to a real proxy.
//
// usage: node shape_probe.mjs PORT_FILE LOG_FILE   (writes 127.0.0.1:PORT to PORT_FILE)
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';

const [portFile, logFile] = process.argv.slice(2);
const server = createServer((socket) => {
  let head = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk) => {
    head += chunk;
    const end = head.indexOf('\r\n');
    if (end < 0 && head.length < 8192) return;
    appendFileSync(logFile, `${end < 0 ? head : head.slice(0, end)}\n`);
    socket.end('HTTP/1.1 502 Shape Probe\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    socket.removeAllListeners('data');
  });
  socket.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => {
  writeFileSync(`${portFile}.tmp`, `127.0.0.1:${server.address().port}\n`);
  renameSync(`${portFile}.tmp`, portFile);
});
