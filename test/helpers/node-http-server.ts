/**
 * A Node `http.createServer` server as a reference for the lenient-HTTP/1 tests, run as a child process
 * (`node dist/test/helpers/node-http-server.js [PORT] [HOST]`; start it with `startNodeHttp` in node-http.ts).
 *
 * It answers every request it understood with `200` and a small fixed body (`Content-Length`, nothing echoed), after
 * reading the request body, and writes one JSON line per event to stdout:
 *
 * - `{"event":"listening","port":N}` once, first;
 * - `{"event":"request",...}` when a response it sent has finished: the request as llhttp understood it (method,
 *   url, httpVersion, the host and user-agent headers), the status it sent and the body bytes it read;
 * - `{"event":"clientError",...}` when llhttp rejected what the client sent (err.code, e.g. `HPE_INVALID_METHOD`).
 *
 * A 'clientError' listener replaces Node's default handler, so this one does what the default does in Node 20
 * (lib/_http_server.js socketOnError): unless a response is in flight whose head was already sent, write the canned
 * `431` (header overflow), `413` (chunk extensions overflow), `408` (request timeout) or `400` response, then destroy
 * the socket.
 */
import http from 'node:http';
import type { Socket } from 'node:net';

const port = Number(process.argv[2] ?? 0);
const host = process.argv[3] ?? '127.0.0.1';
const BODY = 'node ok\n';

function log(o: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

const server = http.createServer((req, res) => {
  let bodyBytes = 0;
  const remotePort = req.socket.remotePort;
  const remoteAddress = req.socket.remoteAddress;
  req.on('data', (d: Buffer) => { bodyBytes += d.length; });
  req.on('error', (e) => log({ event: 'requestError', remoteAddress, remotePort, code: (e as NodeJS.ErrnoException).code ?? e.message }));
  req.on('end', () => {
    res.on('finish', () => log({
      event: 'request', remoteAddress, remotePort, method: req.method, url: req.url, httpVersion: req.httpVersion,
      host: req.headers.host ?? null, userAgent: req.headers['user-agent'] ?? null, status: res.statusCode, bodyBytes,
    }));
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(BODY) });
    res.end(BODY);
  });
});

// Node 20's canned answers (lib/_http_server.js)
const CANNED: Record<string, string> = {
  HPE_HEADER_OVERFLOW: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n',
  ERR_HTTP_REQUEST_TIMEOUT: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
};
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';

server.on('clientError', (err: NodeJS.ErrnoException & { bytesParsed?: number; reason?: string }, socket: Socket) => {
  const answer = CANNED[err.code ?? ''] ?? BAD_REQUEST;
  // socket._httpMessage: the in-flight ServerResponse, if any (what Node's own handler looks at)
  const inFlight = (socket as Socket & { _httpMessage?: { _headerSent?: boolean } | null })._httpMessage;
  const wrote = socket.writable && (!inFlight || !inFlight._headerSent);
  log({
    event: 'clientError', remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, code: err.code ?? null,
    reason: err.reason ?? err.message, bytesParsed: err.bytesParsed ?? null,
    status: wrote ? Number(answer.slice(9, 12)) : null,
  });
  if (wrote) socket.write(answer);
  socket.destroy();
});

server.listen(port, host, () => {
  log({ event: 'listening', port: (server.address() as { port: number }).port });
});

process.on('SIGTERM', () => { server.close(); process.exit(0); });
