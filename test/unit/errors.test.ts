/**
 * The error model (src/errors.ts): one WL_ERR table of every code, docs/errors.md generated from it, every error
 * class a WirelogError with a code from the table, and the brand that makes `instanceof WirelogError` hold across
 * two copies of the module. The sources are scanned, so a new code or error class that skips the table fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../helpers/paths.js';
import { run } from '../helpers/proc.js';
import { WL_ERR, WirelogError, isWlErrorCode } from '../../src/errors.js';
import { renderErrorsDoc } from '../../src/errors-doc.js';
import { startSensorProcess } from '../../src/source/sensor-process.js';
import type { WlErrorCode } from '../../src/errors.js';

const srcDir = path.join(repoRoot, 'src');

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}
const sources = tsFiles(srcDir).map((file) => ({ file, rel: path.relative(srcDir, file), text: fs.readFileSync(file, 'utf8') }));

test('docs/errors.md is what the WL_ERR table gives (node scripts/gen-errors-doc.mjs)', async () => {
  const doc = fs.readFileSync(path.join(repoRoot, 'docs', 'errors.md'), 'utf8');
  assert.equal(doc, renderErrorsDoc(), 'docs/errors.md is stale: run node scripts/gen-errors-doc.mjs after a build');
  for (const code of Object.keys(WL_ERR)) assert.ok(doc.includes(`\`${code}\``), `${code} missing from docs/errors.md`);
  // the script's own check agrees
  const r = await run('node', [path.join(repoRoot, 'scripts', 'gen-errors-doc.mjs'), '--check']);
  assert.equal(r.code, 0, r.stderr);
});

test('every WL_ERR_* code written in src/ is in the table; every family (WL_ERR_X_*) has members', () => {
  const missing: string[] = [];
  const families = new Set<string>();
  let seen = 0;
  for (const s of sources) {
    for (const m of s.text.matchAll(/WL_ERR_[A-Z0-9_]*/g)) {
      const code = m[0];
      if (code.endsWith('_')) families.add(code); // `WL_ERR_DNS_*` in a comment, `WL_ERR_${…}` in a type
      else {
        seen++;
        if (!isWlErrorCode(code)) missing.push(`${code} (${s.rel})`);
      }
    }
  }
  assert.ok(seen > 80, `only ${seen} code literals found: is the scan looking at src/?`);
  assert.deepEqual(missing, [], 'codes used in src/ but not in WL_ERR (src/errors.ts)');
  for (const f of families) {
    if (f === 'WL_ERR_') continue;
    assert.ok(Object.keys(WL_ERR).some((c) => c.startsWith(f)), `family ${f}* has no member in WL_ERR`);
  }
});

test('every WL_ERR_* code the docs mention is in the table', () => {
  const docsDir = path.join(repoRoot, 'docs');
  const unknown: string[] = [];
  for (const name of fs.readdirSync(docsDir).filter((n) => n.endsWith('.md'))) {
    for (const m of fs.readFileSync(path.join(docsDir, name), 'utf8').matchAll(/WL_ERR_[A-Z0-9_]*/g)) {
      // `WL_ERR_DNS_*`: a family, which must have members
      const known = m[0].endsWith('_') ? Object.keys(WL_ERR).some((c) => c.startsWith(m[0])) : isWlErrorCode(m[0]);
      if (!known) unknown.push(`${m[0]} (docs/${name})`);
    }
  }
  assert.deepEqual(unknown, []);
});

test('the table: codes are WL_ERR_ names, each with an area and a one-line meaning', () => {
  for (const [code, info] of Object.entries(WL_ERR)) {
    assert.match(code, /^WL_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/);
    assert.ok(info.meaning.length > 10 && !info.meaning.includes('\n'), `${code}: meaning must be one line`);
    assert.ok(info.area.length > 0);
  }
  assert.equal(isWlErrorCode('WL_ERR_NOT_A_CODE'), false);
  assert.equal(isWlErrorCode('toString'), false, 'inherited keys are not codes');
});

/** Constructor arguments for the classes whose first argument is not the message. */
const ARGS: Record<string, unknown[]> = {
  ApiError: [404, 'no L7 record 9'],
  ClickHouseError: ['HTTP 500', 500],
  ClientError: ['WL_ERR_DIAL', 'dial tcp 127.0.0.1:1: ECONNREFUSED'],
  ConfigFileError: ['/etc/wirelog.conf', Object.assign(new Error('no such file'), { code: 'ENOENT' })],
  DecodeError: ['WL_ERR_TRUNCATED', 'ipv4', 14, 'truncated ipv4 header', 20, 3],
  LogDirError: ['/nonexistent/logs', Object.assign(new Error('permission denied'), { code: 'EACCES' })],
  QueryError: ['unknown field', 3],
  QuicFail: ['WL_ERR_QUIC_FRAME', 7, 'frame runs past the packet'],
  TraceFilterError: ['not filterable', 0],
};
/** The codes these classes had before the error model: kept, since users match on them. */
const KEPT_CODES: Record<string, WlErrorCode> = {
  UsageError: 'WL_ERR_USAGE', ConfigFileError: 'WL_ERR_CONFIG', LogDirError: 'WL_ERR_LOG_DIR',
  TraceFilterError: 'WL_ERR_TRACE_FILTER', QueryError: 'WL_ERR_QUERY', StoreOpenError: 'WL_ERR_STORE',
  StoreReadError: 'WL_ERR_STORE', StoreSchemaError: 'WL_ERR_STORE_SCHEMA', ClickHouseError: 'WL_ERR_CLICKHOUSE',
  ClickHouseUrlError: 'WL_ERR_STORE_URL', NetnsError: 'WL_ERR_NETNS', WebDirError: 'WL_ERR_WEB',
  QuicTypeError: 'WL_ERR_QUIC_TYPE', QueryStoreError: 'WL_ERR_STORE', UiStoreError: 'WL_ERR_STORE',
  TopologyInputError: 'WL_ERR_INPUT', ApiError: 'WL_ERR_API',
};

test('every error class in src/ is a WirelogError with a code from the table, and keeps its prototype instanceof', async () => {
  const classes: Array<{ name: string; base: string; rel: string }> = [];
  for (const s of sources) {
    // exported classes: what callers can catch (a module's private control-flow sentinel is not an error to them)
    for (const m of s.text.matchAll(/^export class (\w+) extends (\w+)/gm)) {
      if (/Error$/.test(m[2]!) || /Error$|Fail$/.test(m[1]!)) classes.push({ name: m[1]!, base: m[2]!, rel: s.rel });
    }
  }
  assert.ok(classes.length >= 19, `found ${classes.length} error classes`);
  for (const c of classes) {
    if (c.name === 'WirelogError') continue;
    assert.notEqual(c.base, 'Error', `${c.rel}: ${c.name} extends Error: make it extend WirelogError (src/errors.ts)`);
    const mod = (await import(pathToFileURL(path.join(repoRoot, 'dist', 'src', c.rel.replace(/\.ts$/, '.js'))).href)) as Record<string, unknown>;
    const Cls = mod[c.name] as (new (...a: unknown[]) => Error) | undefined;
    assert.ok(typeof Cls === 'function', `${c.rel}: ${c.name} is not exported`);
    const e = new Cls(...(ARGS[c.name] ?? ['a message']));
    assert.ok(e instanceof WirelogError, `${c.name} is not a WirelogError`);
    assert.ok(e instanceof Cls && e instanceof Error);
    const code = (e as WirelogError).code;
    assert.ok(isWlErrorCode(code), `${c.name}: code ${String(code)} is not in WL_ERR`);
    if (KEPT_CODES[c.name] !== undefined) assert.equal(code, KEPT_CODES[c.name], `${c.name} changed its code`);
    assert.ok(e.message.length > 0);
    // a subclass's instanceof is the prototype chain's, not the brand's
    assert.equal(new WirelogError('WL_ERR_IO', 'x') instanceof Cls, false, `a bare WirelogError is not a ${c.name}`);
  }
  // errno errors stay as cause, their code not the error's
  const { ConfigFileError } = await import('../../src/cli/config.js');
  const errno = Object.assign(new Error('no such file'), { code: 'ENOENT' });
  const cfg = new ConfigFileError('/x.conf', errno);
  assert.equal(cfg.code, 'WL_ERR_CONFIG');
  assert.equal(cfg.cause, errno);
});

test('the brand: instanceof WirelogError holds across two copies of the module and for a branded object', async () => {
  // a query string makes a second, separate module instance: a second WirelogError class, as two installs would
  const url = `${pathToFileURL(path.join(repoRoot, 'dist', 'src', 'errors.js')).href}?second-copy`;
  const second = (await import(url)) as typeof import('../../src/errors.js');
  assert.notEqual(second.WirelogError, WirelogError);
  const theirs = new second.WirelogError('WL_ERR_STORE', 'from the other copy');
  assert.ok(theirs instanceof WirelogError);
  assert.ok(new WirelogError('WL_ERR_STORE', 'ours') instanceof second.WirelogError);
  // a structurally branded object passes; unbranded ones, including other errors with a code, do not
  assert.ok(({ [Symbol.for('wirelog.error')]: true }) instanceof WirelogError);
  assert.equal(Object.assign(new Error('x'), { code: 'WL_ERR_STORE' }) instanceof WirelogError, false);
  assert.equal(({}) instanceof WirelogError, false);
  assert.equal((null as unknown) instanceof WirelogError, false);
  assert.equal(('WL_ERR_IO' as unknown) instanceof WirelogError, false);
  // subclasses keep ordinary instanceof: the other copy's base is not one of ours
  const { UsageError } = await import('../../src/cli/args.js');
  const { StoreReadError } = await import('../../src/store/reader.js');
  assert.equal(theirs instanceof UsageError, false);
  assert.equal(new UsageError('bad flag') instanceof StoreReadError, false);
  assert.ok(new UsageError('bad flag') instanceof UsageError);
  // the brand is not an own key: JSON and deepEqual see code and message only
  const e = new WirelogError('WL_ERR_IO', 'read error', { cause: new Error('EIO') });
  assert.deepEqual(Object.getOwnPropertySymbols(e), []);
  assert.equal(e.code, 'WL_ERR_IO');
  assert.equal((e.cause as Error).message, 'EIO');
});

test('a sensor-stream error reaches the process handler with its own code (not folded into a string only)', async () => {
  // a real child process standing in for the sensor: its stdout is a record header with an impossible length
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wl-errors-'));
  const fake = path.join(dir, 'sensor');
  fs.writeFileSync(fake, "#!/bin/sh\nprintf '\\001\\000\\000\\000\\003\\000\\000\\000'\n", { mode: 0o755 });
  try {
    const got = await new Promise<Array<{ message: string; code?: WlErrorCode }>>((resolve) => {
      const errors: Array<{ message: string; code?: WlErrorCode }> = [];
      startSensorProcess(fake, [], {
        records: { packet: () => {}, stats: () => {} },
        attached: () => {},
        message: () => {},
        handlers: { error: (message, code) => errors.push({ message, code }), exit: () => resolve(errors) },
      });
    });
    assert.equal(got.length, 1, JSON.stringify(got));
    assert.equal(got[0]!.code, 'WL_ERR_SENSOR_BAD_LENGTH');
    assert.match(got[0]!.message, /^sensor stream at byte 4: WL_ERR_SENSOR_BAD_LENGTH: bad record length 3$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
