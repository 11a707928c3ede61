/**
 * Reading the store back as the records of docs/schema.md: a row of `l7`, `l4`, `tls` or `netns` (as better-sqlite3
 * returns it, an object keyed by column) → the record object, or the exact JSON line `wirelog capture --format
 * jsonl` writes for it (the L4 packet times are 64-bit integers: only the line keeps them exact).
 */
import { HTTP_RECORD_FIELDS, TLS_RECORD_FIELDS } from '../sinks/schema.js';
import { L4_RECORD_FIELDS, nsText, tcpFlagLetters } from '../sinks/l4-jsonl.js';
import { NETNS_RECORD_FIELDS } from '../sinks/netns-jsonl.js';
import { BOOL_FIELDS, decodePackets, JSON_FIELDS, type StoreTable } from './schema.js';
import type { L4Packet } from '../records.js';

const FIELDS: Record<StoreTable, readonly string[]> = {
  l7: HTTP_RECORD_FIELDS as readonly string[],
  l4: L4_RECORD_FIELDS,
  tls: TLS_RECORD_FIELDS as readonly string[],
  netns: NETNS_RECORD_FIELDS as readonly string[],
};

/** A packet as in the JSON line: `[ts_ns, "tx"|"rx", flags, seq, ack, payload_len, win]` (ts_ns as text). */
export function packetJson(p: L4Packet): string {
  const dir = p.tx ? '"tx"' : '"rx"';
  if (p.flags < 0) return `[${nsText(p.tsUs, p.nsRem)},${dir},null,null,null,${p.len},null]`;
  return `[${nsText(p.tsUs, p.nsRem)},${dir},"${tcpFlagLetters(p.flags)}",${p.seq},${p.ack},${p.len},${p.win}]`;
}

/** The record of a row; an L4 record's `packets` are decoded L4Packet objects. */
export function rowToRecord(t: StoreTable, row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of FIELDS[t]) {
    if (f === 'record') {
      out.record = t;
      continue;
    }
    const v = row[f];
    if (f === 'packets') out.packets = decodePackets(v as Buffer);
    else if (JSON_FIELDS.has(f)) out[f] = v === null ? null : JSON.parse(v as string);
    else if (BOOL_FIELDS.has(f)) out[f] = v === 1;
    else out[f] = v;
  }
  return out;
}

/** The JSON line of a row, as `wirelog capture --format jsonl` writes it. */
export function rowToLine(t: StoreTable, row: Record<string, unknown>): string {
  const rec = rowToRecord(t, row);
  if (t !== 'l4') return JSON.stringify(rec);
  const packets = rec.packets as L4Packet[];
  rec.packets = '\u0000packets';
  return JSON.stringify(rec).replace('"\\u0000packets"', '[' + packets.map(packetJson).join(',') + ']');
}
