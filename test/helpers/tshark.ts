/**
 * Independent references for capture files: tcpdump records, tshark dissects.
 * Integration tests compare wirelog's view of a file with tshark's HTTP fields, message by message.
 */
import { statSync } from 'node:fs';
import { Scope, Spawned, run, runOk, sleep } from './proc.js';
import type { Expected } from './wirelog.js';

// between the values of one field when a frame holds several HTTP messages (pipelining)
const AGG = '\x1e';

export interface TsharkMessage {
  frame: number;
  /** epoch seconds of the frame that completed the head (tshark reassembles) */
  time: number;
  stream: number;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
}

export interface TsharkRequest extends TsharkMessage {
  method: string;
  uri: string;
  version: string;
  host: string;
  userAgent: string;
}

export interface TsharkResponse extends TsharkMessage {
  version: string;
  status: number;
  reason: string;
  /** the Content-Length header as written, '' when absent */
  contentLength: string;
  contentType: string;
}

export interface TsharkHttp {
  requests: TsharkRequest[];
  responses: TsharkResponse[];
}

const COMMON = ['frame.number', 'frame.time_epoch', 'tcp.stream', 'ip.src', 'ipv6.src', 'tcp.srcport', 'ip.dst',
  'ipv6.dst', 'tcp.dstport'];
const REQ = ['http.request.method', 'http.request.uri', 'http.request.version', 'http.host', 'http.user_agent'];
const RES = ['http.response.version', 'http.response.code', 'http.response.phrase', 'http.content_length_header',
  'http.content_type'];

async function fields(file: string, filter: string, names: string[], extraArgs: string[]): Promise<string[][][]> {
  const args = ['-r', file, '-n', ...extraArgs, '-Y', filter, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a',
    '-E', `aggregator=${AGG}`, '-E', 'quote=n'];
  for (const n of names) args.push('-e', n);
  const r = await runOk('tshark', args, { timeoutMs: 120_000 });
  return r.stdout.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t').map((v) => v.split(AGG)));
}

/** One frame's row → one entry per HTTP message in it. */
function explode<T>(row: string[][], commonCount: number, make: (common: string[], own: string[]) => T): T[] {
  const common = row.slice(0, commonCount).map((v) => v[0] ?? '');
  const own = row.slice(commonCount);
  const n = Math.max(1, ...own.map((v) => v.length));
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(make(common, own.map((v) => v[i] ?? '')));
  return out;
}

function message(c: string[]): TsharkMessage {
  return {
    frame: Number(c[0]), time: Number(c[1]), stream: Number(c[2]),
    src: c[3] || c[4]!, srcPort: Number(c[5]), dst: c[6] || c[7]!, dstPort: Number(c[8]),
  };
}

/**
 * HTTP requests and responses in a capture file as tshark sees them (TCP reassembly on, like wirelog's default).
 * `port` / `ports`: also decode these ports as HTTP (tshark only knows the usual HTTP ports by itself).
 */
export async function tsharkHttp(file: string, opts: { port?: number; ports?: number[]; reassembly?: boolean } = {}): Promise<TsharkHttp> {
  const extra: string[] = [];
  for (const p of [...(opts.port ? [opts.port] : []), ...(opts.ports ?? [])]) extra.push('-d', `tcp.port==${p},http`);
  if (opts.reassembly === false) extra.push('-o', 'tcp.desegment_tcp_streams:FALSE');
  const reqRows = await fields(file, 'http.request', [...COMMON, ...REQ], extra);
  const resRows = await fields(file, 'http.response', [...COMMON, ...RES], extra);
  const requests = reqRows.flatMap((row) => explode(row, COMMON.length, (c, o): TsharkRequest => ({
    ...message(c), method: o[0]!, uri: o[1]!, version: o[2]!, host: o[3]!, userAgent: o[4]!,
  })));
  const responses = resRows.flatMap((row) => explode(row, COMMON.length, (c, o): TsharkResponse => ({
    ...message(c), version: o[0]!, status: Number(o[1]), reason: o[2]!, contentLength: o[3]!, contentType: o[4]!,
  })));
  return { requests, responses };
}

/** Number of packets in a capture file (capinfos). */
export async function packetCount(file: string): Promise<number> {
  const r = await runOk('capinfos', ['-c', '-M', '-T', '-r', file]);
  const n = Number(r.stdout.trim().split('\t').pop());
  if (!Number.isFinite(n)) throw new Error(`capinfos: cannot read packet count: ${r.stdout}`);
  return n;
}

/** The link-layer type name of a capture file as tcpdump reports it (e.g. EN10MB, LINUX_SLL2). */
export async function linkType(file: string): Promise<string> {
  const r = await run('tcpdump', ['-r', file, '-c', '1', '-n'], { timeoutMs: 20_000 });
  const m = /link-type (\S+)/.exec(r.stderr);
  if (!m) throw new Error(`tcpdump -r: no link-type in: ${r.stderr}`);
  return m[1]!;
}

export interface Tcpdump {
  proc: Spawned;
  file: string;
  /** SIGINT, wait for the file to be complete; returns tcpdump's own counters */
  stop(): Promise<{ captured: number; droppedByKernel: number }>;
}

export interface TcpdumpOptions {
  iface: string;
  file: string;
  /** pcap filter expression, e.g. `tcp port 8080` */
  filter?: string;
  netns?: string;
  /** -y: link type, e.g. LINUX_SLL2 for -i any */
  linkType?: string;
  /** -s; default 0 (whole packets) */
  snaplen?: number;
  /** kernel buffer in KiB (-B); default 64 MiB */
  bufferKiB?: number;
}

/** Start tcpdump and wait until it is capturing. */
export async function startTcpdump(scope: Scope, o: TcpdumpOptions): Promise<Tcpdump> {
  // -Z root: Debian's tcpdump drops to user tcpdump, which cannot write into a root-only temp dir
  // no --immediate-mode: its fixed-size ring frames overflow on loopback's 64 KiB packets; stop() waits out the
  // kernel's block timeout (1 s) instead
  const args = ['-i', o.iface, '-w', o.file, '-U', '-n', '-Z', 'root', '-s', String(o.snaplen ?? 0)];
  if (o.linkType) args.push('-y', o.linkType);
  // a big kernel buffer: with --immediate-mode and MTU-sized packets the default one overflows on large responses
  args.push('-B', String(o.bufferKiB ?? 65536));
  if (o.filter) args.push(...o.filter.split(' '));
  const proc = scope.spawn('tcpdump', args, { netns: o.netns });
  await proc.waitForLine('stderr', /listening on/, 15_000);
  return {
    proc, file: o.file,
    stop: async () => {
      // tcpdump does not drain what is still queued when SIGINT stops it: wait until the file has not grown
      // for longer than the kernel's block timeout
      let last = -1;
      let stableSince = Date.now();
      for (let i = 0; i < 300; i++) {
        await sleep(100);
        const size = statSync(o.file, { throwIfNoEntry: false })?.size ?? 0;
        if (size !== last) { last = size; stableSince = Date.now(); }
        else if (Date.now() - stableSince > 1300) break;
      }
      await proc.stop('SIGINT', 10_000);
      const cap = /(\d+) packets? captured/.exec(proc.stderr);
      const drop = /(\d+) packets? dropped by kernel/.exec(proc.stderr);
      return { captured: cap ? Number(cap[1]) : -1, droppedByKernel: drop ? Number(drop[1]) : -1 };
    },
  };
}

/** Convert a capture file to pcapng (tshark writes it; tcpdump only writes pcap). */
export async function toPcapng(src: string, dst: string): Promise<void> {
  await runOk('editcap', ['-F', 'pcapng', src, dst]);
}

/**
 * tshark's messages as expectations (same shape as nginx+curl's): per TCP stream, the n-th request gets the
 * responses up to the n-th final one (1xx before it are its interim responses).
 */
export function expectedFromTshark(h: TsharkHttp): Expected[] {
  const resByStream = new Map<number, TsharkResponse[]>();
  for (const r of h.responses) resByStream.set(r.stream, [...(resByStream.get(r.stream) ?? []), r]);
  const out: Expected[] = [];
  const reqs = h.requests.slice().sort((a, b) => a.stream - b.stream || a.frame - b.frame);
  for (const q of reqs) {
    const rs = resByStream.get(q.stream) ?? [];
    const interim: Expected['interim'] = [];
    while (rs.length && rs[0]!.status < 200) {
      const r = rs.shift()!;
      interim.push({ version: r.version, status: r.status, tail: `${r.reason} ${r.contentLength} ${r.contentType}` });
    }
    const r = rs.shift();
    if (!r) throw new Error(`tshark: no response for ${q.method} ${q.uri} in stream ${q.stream}`);
    out.push({
      client: q.src, clientPort: q.srcPort, server: q.dst, serverPort: q.dstPort, method: q.method, uri: q.uri,
      version: q.version, host: q.host, userAgent: q.userAgent, interim,
      res: { version: r.version, status: r.status, reason: r.reason, contentLength: r.contentLength,
        contentType: r.contentType, tail: `${r.reason} ${r.contentLength} ${r.contentType}` },
      loggedMs: q.time * 1000,
    });
  }
  return out;
}

/** Byte offsets of the records of a classic pcap file (not pcapng), and where each ends. */
export function pcapRecords(buf: Buffer): Array<{ start: number; end: number }> {
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && buf.readUInt32BE(0) !== 0xa1b2c3d4 && buf.readUInt32BE(0) !== 0xa1b23c4d) throw new Error('not a pcap file');
  const out: Array<{ start: number; end: number }> = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    const incl = le ? buf.readUInt32LE(off + 8) : buf.readUInt32BE(off + 8);
    out.push({ start: off, end: off + 16 + incl });
    off += 16 + incl;
  }
  return out;
}

/** How one TCP connection ended, as the frames in a capture show it. */
export interface TcpEnd {
  stream: number;
  /** the side that sent the SYN */
  client: string;
  clientPort: number;
  server: string;
  serverPort: number;
  /** a FIN was seen from the client / the server before any RST */
  clientFin: boolean;
  serverFin: boolean;
  /** a RST was seen (from either side), and whether both FINs came before it */
  reset: boolean;
  resetAfterBothFins: boolean;
  /** client payload bytes seen before the server's first payload byte (all of them if the server sent none) */
  clientBytesBeforeServerData: number;
}

/** Every TCP connection's end (FINs, RST) in a capture file, keyed by `client#port`. */
export async function tcpEnds(file: string): Promise<Map<string, TcpEnd>> {
  const r = await runOk('tshark', ['-r', file, '-n', '-Y', 'tcp', '-T', 'fields', '-E', 'separator=/t', '-e', 'tcp.stream',
    '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'tcp.srcport', '-e', 'ip.dst', '-e', 'ipv6.dst', '-e', 'tcp.dstport',
    '-e', 'tcp.flags.syn', '-e', 'tcp.flags.ack', '-e', 'tcp.flags.fin', '-e', 'tcp.flags.reset', '-e', 'tcp.len'],
  { timeoutMs: 120_000 });
  const serverSent = new Set<number>();
  const byStream = new Map<number, TcpEnd>();
  const flag = (v: string | undefined): boolean => v === '1' || v === 'True';
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const f = line.split('\t');
    const stream = Number(f[0]);
    const src = f[1] || f[2]!;
    const srcPort = Number(f[3]);
    const dst = f[4] || f[5]!;
    const dstPort = Number(f[6]);
    let e: TcpEnd | undefined = byStream.get(stream);
    if (!e) {
      // the first frame of a stream is its SYN (a whole connection is in the file); a SYN-ACK first means the
      // server sent it
      const fromServer = flag(f[7]) && flag(f[8]);
      const ends = fromServer
        ? { client: dst, clientPort: dstPort, server: src, serverPort: srcPort }
        : { client: src, clientPort: srcPort, server: dst, serverPort: dstPort };
      e = { stream, ...ends, clientFin: false, serverFin: false, reset: false, resetAfterBothFins: false, clientBytesBeforeServerData: 0 };
      byStream.set(stream, e);
    }
    const fromClient = src === e.client && srcPort === e.clientPort;
    const len = Number(f[11] || 0);
    if (fromClient && !serverSent.has(stream)) e.clientBytesBeforeServerData += len;
    if (!fromClient && len > 0) serverSent.add(stream);
    if (flag(f[10]) && !e.reset) {
      e.reset = true;
      e.resetAfterBothFins = e.clientFin && e.serverFin;
    }
    if (flag(f[9]) && !e.reset) {
      if (fromClient) e.clientFin = true;
      else e.serverFin = true;
    }
  }
  const out = new Map<string, TcpEnd>();
  for (const e of byStream.values()) out.set(`${e.client}#${e.clientPort}`, e);
  return out;
}

/** One HTTP/2 HEADERS frame's header block as tshark decodes it. */
export interface TsharkH2Headers {
  frame: number;
  srcPort: number;
  dstPort: number;
  streamId: number;
  /** pseudo-headers and headers by name (the last value of a repeated name) */
  fields: Record<string, string>;
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * Every HTTP/2 HEADERS frame in a capture file as tshark decodes it (`-d tcp.port==PORT,http2` for each of
 * `priorKnowledge`; an h2c upgrade tshark follows by itself), in frame order.
 */
export async function tsharkH2Headers(file: string, priorKnowledge: number[] = []): Promise<TsharkH2Headers[]> {
  const args = ['-r', file, '-n', '-Y', 'http2.type == 1', '-T', 'json', '--no-duplicate-keys', '-J', 'frame tcp http2'];
  for (const p of priorKnowledge) args.push('-d', `tcp.port==${p},http2`);
  const r = await runOk('tshark', args, { timeoutMs: 120_000 });
  type Obj = Record<string, unknown>;
  const out: TsharkH2Headers[] = [];
  for (const pkt of JSON.parse(r.stdout) as Obj[]) {
    const layers = (pkt._source as Obj).layers as Obj;
    const tcp = asArray(layers.tcp as Obj | Obj[])[0]!;
    const frameNo = Number(asArray((layers.frame as Obj)['frame.number'] as string)[0]);
    for (const h2 of asArray(layers.http2 as Obj | Obj[])) {
      for (const st of asArray(h2['http2.stream'] as Obj | Obj[])) {
        if (asArray(st['http2.type'] as string)[0] !== '1') continue;
        const fields: Record<string, string> = {};
        for (const h of asArray(st['http2.header'] as Obj | Obj[])) {
          const name = asArray(h['http2.header.name'] as string)[0];
          if (name !== undefined) fields[name] = asArray(h['http2.header.value'] as string)[0] ?? '';
        }
        out.push({
          frame: frameNo, srcPort: Number(asArray(tcp['tcp.srcport'] as string)[0]), dstPort: Number(asArray(tcp['tcp.dstport'] as string)[0]),
          streamId: Number(asArray(st['http2.streamid'] as string)[0]), fields,
        });
      }
    }
  }
  return out;
}

/** Every TLS ClientHello in a capture file as tshark reads it. */
export async function tsharkClientHellos(file: string, ports: number[] = []): Promise<Array<{ srcPort: number; dstPort: number; sni: string; alpn: string[] }>> {
  const args = ['-r', file, '-n', '-Y', 'tls.handshake.type == 1', '-T', 'fields', '-E', 'separator=|', '-E', 'aggregator=,',
    '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'tls.handshake.extensions_server_name', '-e', 'tls.handshake.extensions_alpn_str'];
  for (const p of ports) args.push('-d', `tcp.port==${p},tls`);
  const r = await runOk('tshark', args, { timeoutMs: 120_000 });
  return r.stdout.split('\n').filter((l) => l.trim()).map((l) => {
    const [s, d, sni, alpn] = l.split('|');
    return { srcPort: Number(s), dstPort: Number(d), sni: sni ?? '', alpn: alpn ? alpn.split(',') : [] };
  });
}
