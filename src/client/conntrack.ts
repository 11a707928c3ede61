/**
 * Conntrack entries of the traced connections, from the kernel's netfilter table: `wirelog-sensor conntrack`
 * (sensor/conntrack.c) answers one JSON line per `tcp|udp SRC SPORT DST DPORT` query line. One sensor process per
 * lookupConntrack() call, all queries in one go: the client asks as late as possible (at getTrace), so the counters
 * and the TCP state cover the whole connection.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { nowMs, type AddrTuple, type ConntrackEntry, type TcpState } from './trace.js';

export interface ConntrackQuery {
  proto: 'tcp' | 'udp';
  /** our side's view: src = local address of the socket, dst = the address we connected to */
  tuple: AddrTuple;
}

export type ConntrackResult = { entry: ConntrackEntry } | { error: string };

/** $WIRELOG_SENSOR, else build/wirelog-sensor of this checkout (this file is dist/src/client/conntrack.js). */
export function defaultClientSensorPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WIRELOG_SENSOR !== undefined && env.WIRELOG_SENSOR !== '') return env.WIRELOG_SENSOR;
  return fileURLToPath(new URL('../../../build/wirelog-sensor', import.meta.url));
}

/** `::ffff:10.0.0.1` (a dual-stack socket's view of IPv4) → `10.0.0.1`; zone ids dropped. */
export function plainAddress(a: string): string {
  const noZone = a.replace(/%.*$/, '');
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(noZone);
  return m ? m[1]! : noZone.toLowerCase();
}

function queryLine(q: ConntrackQuery): string {
  const t = q.tuple;
  return `${q.proto} ${plainAddress(t.srcIP)} ${t.srcPort} ${plainAddress(t.dstIP)} ${t.dstPort}`;
}

/** The sensor's JSON line → an entry (capturedAt: when the answer came), or its error. */
function parseAnswer(line: string, capturedAt: number): ConntrackResult {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { error: `conntrack: unreadable answer from the sensor: ${line.slice(0, 200)}` };
  }
  if (typeof j.error === 'string') return { error: j.error };
  const entry: ConntrackEntry = {
    capturedAt,
    status: String(j.status ?? ''),
    mark: Number(j.mark ?? 0),
    addrOrig: j.addrOrig as AddrTuple,
    addrReply: j.addrReply as AddrTuple,
    packetsSent: Number(j.packetsSent ?? 0),
    packetsRecv: Number(j.packetsRecv ?? 0),
    bytesSent: Number(j.bytesSent ?? 0),
    bytesRecv: Number(j.bytesRecv ?? 0),
  };
  if (typeof j.tcpState === 'string') entry.tcpState = j.tcpState as TcpState;
  return { entry };
}

/** Looks up every query in one go (as late as possible: at getTrace). Never throws: failures are per query. */
export async function lookupConntrack(queries: ConntrackQuery[], sensorPath?: string): Promise<ConntrackResult[]> {
  if (queries.length === 0) return [];
  const path = sensorPath ?? defaultClientSensorPath();
  const all = (error: string): ConntrackResult[] => queries.map(() => ({ error }));
  return new Promise((resolve) => {
    const results: ConntrackResult[] = [];
    let stderr = '';
    let out = '';
    let settled = false;
    const finish = (failure?: string): void => {
      if (settled) return;
      settled = true;
      if (failure !== undefined) {
        resolve(all(failure));
        return;
      }
      // a sensor that died early leaves the rest unanswered: say why, per query
      const why = stderr.trim().split('\n').pop()?.replace(/^wirelog-sensor: /, '') || 'the sensor exited early';
      while (results.length < queries.length) results.push({ error: `conntrack: ${why}` });
      resolve(results);
    };
    let child;
    try {
      child = spawn(path, ['conntrack'], { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      finish(`conntrack: cannot start sensor ${path}: ${(e as Error).message}`);
      return;
    }
    child.on('error', (e: NodeJS.ErrnoException) => {
      finish(e.code === 'ENOENT'
        ? `conntrack: sensor binary not found at ${path}: run npm run build`
        : `conntrack: cannot start sensor ${path}: ${e.message}`);
    });
    child.stdin.on('error', () => { /* the sensor died: 'close' reports it */ });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => { stderr += s; });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      const lines = (out + s).split('\n');
      out = lines.pop() ?? '';
      const at = nowMs();
      for (const l of lines) if (l.trim() !== '' && results.length < queries.length) results.push(parseAnswer(l, at));
    });
    child.on('close', () => finish());
    child.stdin.end(queries.map((q) => `${queryLine(q)}\n`).join(''));
  });
}
