/**
 * wirelog's QPACK decoder against an independent encoder: Debian's libnghttp3 (the library gtlsserver and gtlsclient
 * use), driven through test/helpers/nghttp3-qpack.py. Every static-table entry, then header lists encoded with a
 * dynamic table (inserts on the encoder stream, references to them, eviction in a small table), each decoded back to
 * what was encoded; a section read before its inserts is blocked, not guessed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../helpers/proc.js';
import { QPACK_STATIC_TABLE, QpackDynamicTable, decodeFieldSection } from '../../src/proto/qpack.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// the helper is not compiled: it lives next to the TypeScript sources
const helper = path.resolve(here, '../../../test/helpers/nghttp3-qpack.py');

type Fields = Array<[string, string]>;
interface Encoded { section: string; encoder: string }

async function encode(capacity: number, lists: Fields[], t: import('node:test').TestContext): Promise<Encoded[] | undefined> {
  const lib = ['/usr/lib/x86_64-linux-gnu/libnghttp3.so.3', '/usr/lib/aarch64-linux-gnu/libnghttp3.so.3'].some((p) => existsSync(p));
  if (!lib || !existsSync(helper)) {
    const why = `libnghttp3 (Debian libnghttp3-3) or ${helper} missing`;
    if (process.env.CI === 'true') throw new Error(why);
    t.skip(why);
    return undefined;
  }
  const r = await run('python3', [helper, JSON.stringify({ capacity, blocked: 100, lists })], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Encoded[];
}

test('every static-table entry: nghttp3 refers to it by the index wirelog has, and it decodes back', async (t) => {
  const lists = QPACK_STATIC_TABLE.map(([n, v]) => [[n, v]] as Fields);
  const enc = await encode(0, lists, t);
  if (enc === undefined) return;
  let indexed = 0;
  for (const [i, e] of enc.entries()) {
    const b = Buffer.from(e.section, 'hex');
    const table = new QpackDynamicTable();
    table.maxCapacity = 0;
    const r = decodeFieldSection(b, table);
    assert.equal(r.status, 'ok', `entry ${i}`);
    assert.deepEqual(r.status === 'ok' && r.fields, lists[i], `entry ${i}`);
    // an Indexed Field Line to the static table (1 1 index): its index is the entry's position
    if ((b[2]! & 0xc0) === 0xc0) {
      const idx = (b[2]! & 0x3f) < 63 ? b[2]! & 0x3f : 63 + b[3]!;
      assert.equal(idx, i, `nghttp3's index for ${lists[i]![0]![0]}: ${lists[i]![0]![1]}`);
      indexed++;
    }
  }
  assert.ok(indexed >= 90, `${indexed} of 99 entries sent as indexed static references`);
  t.diagnostic(`${indexed} entries indexed by nghttp3 at the same position`);
});

function lists(n: number): Fields[] {
  const out: Fields[] = [];
  for (let i = 0; i < n; i++) {
    out.push([[':method', 'GET'], [':scheme', 'https'], [':authority', `host${i % 5}.example`], [':path', `/p/${i}`],
      ['user-agent', 'wirelog-test/1'], ['accept-language', i % 2 === 0 ? 'en' : 'de'], ['etag', `"v${i % 4}"`], ['content-type', 'application/x-wl']]);
  }
  return out;
}

for (const capacity of [4096, 220]) {
  test(`dynamic table of ${capacity} bytes: sections decode to what nghttp3 encoded, inserts and evictions followed`, async (t) => {
    const input = lists(12);
    const enc = await encode(capacity, input, t);
    if (enc === undefined) return;
    const table = new QpackDynamicTable();
    table.maxCapacity = capacity;
    let blockedSeen = 0;
    for (const [i, e] of enc.entries()) {
      const section = Buffer.from(e.section, 'hex');
      const ins = Buffer.from(e.encoder, 'hex');
      if (ins.length > 0) {
        // before its inserts a section that needs them is blocked
        const early = decodeFieldSection(section, table);
        if (early.status === 'blocked') blockedSeen++;
        else assert.equal(early.status, 'ok');
        assert.equal(table.encoderInstructions(ins), ins.length);
      }
      const r = decodeFieldSection(section, table);
      assert.equal(r.status, 'ok', `list ${i}: ${JSON.stringify(r)}`);
      assert.deepEqual(r.status === 'ok' && r.fields, input[i], `list ${i}`);
    }
    assert.ok(table.insertCount > 0, 'nghttp3 used the dynamic table');
    assert.ok(blockedSeen > 0, 'some section referred to entries inserted with it');
    if (capacity < 1000) assert.ok(table.evicted > 0, 'the small table evicted entries');
    t.diagnostic(`${table.insertCount} inserts, ${table.evicted} evicted, ${blockedSeen} sections blocked until their inserts`);
  });
}
