/** `wirelog query`'s own pieces: time arguments and CSV fields. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvField, parseTimeArg } from '../../src/pipelines/query.js';

test('time arguments: ISO with µs, zones, dates, now and relative', () => {
  const now = Date.UTC(2026, 11, 3, 12, 0, 0);
  assert.equal(parseTimeArg('2026-12-03T10:00:00.123456Z', now), Date.UTC(2026, 11, 3, 10) * 1000 + 123456);
  assert.equal(parseTimeArg('2026-12-03T10:00:00.5', now), Date.UTC(2026, 11, 3, 10) * 1000 + 500000, 'no zone: UTC');
  assert.equal(parseTimeArg('2026-12-03T11:00:00+01:00', now), Date.UTC(2026, 11, 3, 10) * 1000);
  assert.equal(parseTimeArg('2026-12-03', now), Date.UTC(2026, 11, 3) * 1000);
  assert.equal(parseTimeArg('now', now), now * 1000);
  assert.equal(parseTimeArg('-15m', now), (now - 15 * 60_000) * 1000);
  assert.equal(parseTimeArg('-2h', now), (now - 2 * 3_600_000) * 1000);
  assert.equal(parseTimeArg('-7d', now), (now - 7 * 86_400_000) * 1000);
  for (const bad of ['yesterday', '15m', '-15x', '2026-13-45', '']) assert.equal(parseTimeArg(bad, now), undefined, bad);
});

test('CSV fields: quoted only when needed, quotes doubled, lists as JSON, null empty', () => {
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('two\nlines'), '"two\nlines"');
  assert.equal(csvField(null), '');
  assert.equal(csvField(404), '404');
  assert.equal(csvField(['obs-fold', 'bare-lf']), '"[""obs-fold"",""bare-lf""]"');
});
