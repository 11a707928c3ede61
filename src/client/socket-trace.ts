/**
 * Socket operation recording (nettrace's WithSockTrace) for the sockets the traced client creates itself.
 *
 * Node reads are event-driven, not blocking calls, so a read "call" is the moment the socket was ready to read
 * again (connected, or the previous read returned) and its "return" the moment the bytes were handed up; a write
 * is from the write() call to its callback (bytes accepted by the kernel). That is the nearest Node has to Go's
 * blocking Read/Write, and it is what the times in `socketOps` mean (docs/client.md).
 *
 * Byte totals are always counted; the per-operation list only when `ops` is true.
 */
import type { Socket as NetSocket } from 'node:net';
import type { Socket as DgramSocket } from 'node:dgram';
import { Duplex } from 'node:stream';
import { nowMs, type ConnRecord, type SocketOp, type TcpConnTrace, type TraceRecorder, type Ms } from './trace.js';

type WriteCb = (err?: Error | null) => void;

/** Where a socket's operations go. */
export class OpRecorder {
  private lastReadReturn: Ms;

  constructor(
    readonly conn: ConnRecord,
    private readonly rec: TraceRecorder,
    readonly withOps: boolean,
    start: Ms = nowMs(),
  ) {
    this.lastReadReturn = start;
    if (withOps && conn.socketOps === undefined) conn.socketOps = [];
  }

  /** The socket is connected (or otherwise ready): the first read starts waiting now. */
  readyToRead(at: Ms = nowMs()): void {
    this.lastReadReturn = at;
  }

  read(len: number, err?: string, remoteAddr?: string): void {
    const at = nowMs();
    this.conn.totalRecvBytes += len;
    this.touch();
    if (this.withOps) this.push({ type: remoteAddr ? 'read-from' : 'read', callAt: this.lastReadReturn, returnAt: at, returnErr: err, remoteAddr, dataLen: len });
    this.lastReadReturn = at;
  }

  /** Starts a write; call the returned function when it completes. */
  write(len: number, remoteAddr?: string): (err?: Error | null) => void {
    const callAt = nowMs();
    return (err) => {
      if (!err) this.conn.totalSentBytes += len;
      this.touch();
      if (this.withOps) {
        this.push({
          type: remoteAddr ? 'write-to' : 'write', callAt, returnAt: nowMs(), returnErr: err ? errText(err) : undefined,
          remoteAddr, dataLen: err ? 0 : len,
        });
      }
    };
  }

  closed(at: Ms = nowMs()): void {
    if (this.conn.connCloseAt === undefined) this.conn.connCloseAt = at;
  }

  private touch(): void {
    if ('handshakeBeginAt' in this.conn) this.rec.touch(this.conn as TcpConnTrace);
  }

  private push(op: SocketOp): void {
    if (op.returnErr === undefined) delete op.returnErr;
    if (op.remoteAddr === undefined) delete op.remoteAddr;
    // clear() may have replaced the list of a carried connection
    (this.conn.socketOps ??= []).push(op);
  }
}

export function errText(err: Error): string {
  return err.message || String(err);
}

function bytesOf(chunk: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk);
  return (chunk as { byteLength?: number } | null)?.byteLength ?? 0;
}

/**
 * Records the reads and writes of a plain TCP socket in place: the socket stays a real net.Socket (undici relies
 * on it), only this instance's push/_write/_writev are wrapped.
 */
export function recordNetSocket(socket: NetSocket, ops: OpRecorder): void {
  const s = socket as unknown as {
    push(chunk: unknown, enc?: BufferEncoding): boolean;
    _write(chunk: unknown, enc: BufferEncoding, cb: WriteCb): void;
    _writev(chunks: { chunk: unknown }[], cb: WriteCb): void;
  };
  const push = s.push;
  s.push = function (this: unknown, chunk: unknown, enc?: BufferEncoding) {
    if (chunk === null) ops.read(0, 'EOF');
    else ops.read(bytesOf(chunk));
    return push.call(this, chunk, enc);
  };
  const write = s._write;
  s._write = function (this: unknown, chunk: unknown, enc: BufferEncoding, cb: WriteCb) {
    const done = ops.write(bytesOf(chunk));
    write.call(this, chunk, enc, (err?: Error | null) => { done(err); cb(err); });
  };
  const writev = s._writev;
  s._writev = function (this: unknown, chunks: { chunk: unknown }[], cb: WriteCb) {
    let len = 0;
    for (const c of chunks) len += bytesOf(c.chunk);
    const done = ops.write(len);
    writev.call(this, chunks, (err?: Error | null) => { done(err); cb(err); });
  };
  // a failed read (ECONNRESET...) is the last read operation, as Go's Read returning the error
  socket.once('error', (err) => ops.read(0, errText(err)));
  socket.once('close', () => ops.closed());
}

/**
 * A stream over a TCP socket whose every read and write is recorded, for TLS to run on. Node's TLS over a raw
 * net.Socket reads and writes the kernel socket in C++, out of JavaScript's sight, so the encrypted bytes (the
 * ClientHello, the records) would not be seen; over this Duplex they pass through here.
 */
export class RecordedStream extends Duplex {
  constructor(readonly raw: NetSocket, private readonly ops: OpRecorder) {
    super({ allowHalfOpen: true });
    raw.on('data', (chunk: Buffer) => {
      ops.read(chunk.length);
      if (!this.push(chunk)) raw.pause();
    });
    raw.on('end', () => { ops.read(0, 'EOF'); this.push(null); });
    raw.on('error', (err) => { ops.read(0, errText(err)); this.destroy(err); });
    raw.on('close', () => { ops.closed(); if (!this.destroyed) this.destroy(); });
  }

  override _read(): void {
    this.raw.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: WriteCb): void {
    const done = this.ops.write(chunk.length);
    this.raw.write(chunk, (err) => { done(err); cb(err); });
  }

  override _final(cb: WriteCb): void {
    this.raw.end(cb);
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.raw.destroy();
    cb(err);
  }
}

/**
 * Records a connected UDP socket: send() → write (to its callback), each datagram → read. Resolver sockets are
 * connected, so these are `read`/`write` as in nettrace's sample, not read-from/write-to.
 */
export function recordDgram(socket: DgramSocket, ops: OpRecorder): void {
  const send = socket.send.bind(socket) as (...args: unknown[]) => void;
  (socket as unknown as { send: (...args: unknown[]) => void }).send = (...args: unknown[]) => {
    const cbIndex = args.findIndex((a) => typeof a === 'function');
    const msg = args[0];
    const len = Array.isArray(msg) ? msg.reduce((n: number, m) => n + bytesOf(m), 0) : bytesOf(msg);
    const done = ops.write(len);
    const userCb = cbIndex >= 0 ? (args[cbIndex] as (err: Error | null, bytes?: number) => void) : undefined;
    const cb = (err: Error | null, bytes?: number): void => { done(err); userCb?.(err, bytes); };
    if (cbIndex >= 0) args[cbIndex] = cb;
    else args.push(cb);
    send(...args);
  };
  socket.on('message', (msg: Buffer) => ops.read(msg.length));
  socket.on('error', (err) => ops.read(0, errText(err)));
  socket.once('close', () => ops.closed());
}
