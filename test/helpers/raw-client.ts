/**
 * A raw TCP client for hand-made HTTP/1 bytes, and a lenient splitter for what servers send back.
 *
 * `rawConversation` writes each part on one fresh connection, the next one only after the answer to the previous
 * has gone quiet (keep-alive) and only while the server has not closed; then it reads until the server closes or
 * nothing arrives for `idleMs`.
 */
import { connect, type Socket } from 'node:net';

export interface RawConversation {
  localAddress: string;
  localPort: number;
  /** how many of the parts were written (a part is not written once the server has closed) */
  partsSent: number;
  /** everything the server sent */
  received: Buffer;
  /** the server ended the connection (FIN or RST) */
  closedByServer: boolean;
  /** the connection was reset (ECONNRESET / EPIPE seen) */
  reset: boolean;
  /** the conversation ended because the server went quiet, not because it closed */
  idledOut: boolean;
}

export interface RawConversationOptions {
  /** quiet time that ends the conversation after the last part (default 1000 ms) */
  idleMs?: number;
  /** quiet time after an answer before the next part is written (default 250 ms) */
  partIdleMs?: number;
  /** hard limit (default 10 s) */
  timeoutMs?: number;
}

export async function rawConversation(host: string, port: number, parts: Buffer[], o: RawConversationOptions = {}): Promise<RawConversation> {
  const idleMs = o.idleMs ?? 1000;
  const partIdleMs = o.partIdleMs ?? 250;
  const sock: Socket = connect({ host, port });
  sock.setNoDelay(true);
  const chunks: Buffer[] = [];
  let lastData = 0;
  let closed = false;
  let reset = false;
  let local = { address: '', port: 0 };
  const wake: Array<() => void> = [];
  const notify = (): void => { for (const w of wake.splice(0)) w(); };
  sock.on('data', (d: Buffer) => { chunks.push(d); lastData = Date.now(); notify(); });
  sock.on('end', () => { closed = true; notify(); });
  sock.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'ECONNRESET' || e.code === 'EPIPE') { reset = true; closed = true; notify(); return; }
    closed = true;
    notify();
  });
  sock.on('close', () => { closed = true; notify(); });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', () => { local = { address: sock.localAddress!, port: sock.localPort! }; resolve(); });
    sock.once('error', reject);
  });
  const deadline = Date.now() + (o.timeoutMs ?? 10_000);
  const tick = (ms: number): Promise<void> => new Promise((r) => {
    const t = setTimeout(() => { const i = wake.indexOf(r); if (i >= 0) wake.splice(i, 1); r(); }, ms);
    wake.push(() => { clearTimeout(t); r(); });
  });
  /** wait until the server closed, or was quiet for `quiet` ms after something arrived since `since`
   * (or for `idle` ms with nothing at all); true when it ended by idling */
  const settle = async (since: number, quiet: number, idle: number): Promise<boolean> => {
    for (;;) {
      if (closed) return false;
      const now = Date.now();
      if (now > deadline) return true;
      if (lastData > since) {
        if (now - lastData >= quiet) return true;
        await tick(quiet - (now - lastData) + 5);
      } else {
        if (now - since >= idle) return true;
        await tick(idle - (now - since) + 5);
      }
    }
  };
  let partsSent = 0;
  let idledOut = false;
  for (let i = 0; i < parts.length; i++) {
    if (closed) break;
    const since = Date.now();
    sock.write(parts[i]!);
    partsSent++;
    const last = i === parts.length - 1;
    idledOut = await settle(since, last ? idleMs : partIdleMs, idleMs);
  }
  const closedByServer = closed;
  if (!closed) {
    sock.end();
    await Promise.race([new Promise((r) => sock.once('close', r)), new Promise((r) => setTimeout(r, 1000))]);
  }
  sock.destroy();
  return { localAddress: local.address, localPort: local.port, partsSent, received: Buffer.concat(chunks),
    closedByServer, reset, idledOut: idledOut && !closedByServer };
}

/** One response as the client received it. */
export interface ReceivedResponse {
  /** `HTTP/1.1`; `HTTP/0.9` for bytes that do not begin with a status line (an HTTP/0.9 answer: body only) */
  version: string;
  /** null for HTTP/0.9 */
  status: number | null;
  reason: string | null;
  headers: Array<[string, string]>;
  header(name: string): string | undefined;
  /** body bytes received (decoded chunk data for chunked, everything to the close when close-delimited) */
  bodyBytes: number;
  /** how the body was delimited */
  framing: 'none' | 'content-length' | 'chunked' | 'close' | 'http09';
  /** the whole message arrived */
  complete: boolean;
}

const STATUS_RE = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/;

/**
 * Split what a server sent into responses (answers to requests that were not HEAD). Lines may end in CRLF or LF.
 * Bytes that do not begin with `HTTP/` are an HTTP/0.9 answer: all of them body.
 */
export function splitResponses(buf: Buffer): ReceivedResponse[] {
  const out: ReceivedResponse[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.toString('latin1', off, Math.min(off + 5, buf.length)) !== 'HTTP/') {
      out.push(mk('HTTP/0.9', null, null, [], buf.length - off, 'http09', true));
      break;
    }
    // head end: an empty line (CRLF CRLF or LF LF or mixes)
    const m = /\r?\n\r?\n/.exec(buf.toString('latin1', off));
    if (!m) {
      out.push(mk('', null, null, [], 0, 'none', false));
      break;
    }
    const lines = buf.toString('latin1', off, off + m.index).split(/\r?\n/);
    off += m.index + m[0].length;
    const sl = STATUS_RE.exec(lines[0]!);
    if (!sl) throw new Error(`not a status line: ${JSON.stringify(lines[0])}`);
    const headers = lines.slice(1).map((l): [string, string] => {
      const i = l.indexOf(':');
      return [l.slice(0, i).trim(), l.slice(i + 1).trim()];
    });
    const status = Number(sl[2]);
    const get = (n: string): string | undefined => headers.find(([k]) => k.toLowerCase() === n)?.[1];
    if (status < 200 || status === 204 || status === 304) {
      out.push(mk(sl[1]!, status, sl[3] ?? '', headers, 0, 'none', true));
      continue;
    }
    const te = get('transfer-encoding');
    const cl = get('content-length');
    if (te && /chunked\s*$/i.test(te)) {
      let body = 0;
      let complete = false;
      for (;;) {
        const le = buf.indexOf('\n', off);
        if (le < 0) break;
        const size = parseInt(buf.toString('latin1', off, le), 16);
        off = le + 1;
        if (size === 0) {
          // trailers up to the empty line
          const e = /^(?:[^\n]*\n)*?\r?\n/.exec(buf.toString('latin1', off));
          off = e ? off + e[0].length : buf.length;
          complete = e !== null;
          break;
        }
        body += Math.min(size, buf.length - off);
        off += size;
        if (off > buf.length) break;
        off += buf[off] === 13 ? 2 : 1;
      }
      out.push(mk(sl[1]!, status, sl[3] ?? '', headers, body, 'chunked', complete));
    } else if (cl !== undefined && /^\d+$/.test(cl)) {
      const n = Number(cl);
      const got = Math.min(n, buf.length - off);
      out.push(mk(sl[1]!, status, sl[3] ?? '', headers, got, 'content-length', got === n));
      off += n;
    } else {
      out.push(mk(sl[1]!, status, sl[3] ?? '', headers, buf.length - off, 'close', true));
      off = buf.length;
    }
  }
  return out;
}

function mk(version: string, status: number | null, reason: string | null, headers: Array<[string, string]>, bodyBytes: number,
  framing: ReceivedResponse['framing'], complete: boolean): ReceivedResponse {
  return {
    version, status, reason, headers, bodyBytes, framing, complete,
    header: (n) => headers.find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1],
  };
}
