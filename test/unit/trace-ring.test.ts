/**
 * `wirelog trace -b MB`: parsed and range-checked by the CLI, passed to the sensor as `-b`; the sensor's own
 * default for trace mode (64 MiB) is what its usage text says, and its `attached` line reports the ring it made
 * (checked by running `wirelog-sensor trace -h`, no root needed).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { resolveTrace } from '../../src/cli/trace.js';
import { traceArgs } from '../../src/source/trace.js';
import { UsageError } from '../../src/cli/args.js';
import { run } from '../helpers/proc.js';
import { sensorPath } from '../helpers/paths.js';

test('wirelog trace -b / --ring-mb: 1..1024, given to the sensor as -b', () => {
  const s = resolveTrace(['-p', '7', '-b', '16']);
  assert.ok(s !== 'help');
  assert.equal(s.ringMb, 16);
  assert.deepEqual(traceArgs({ sensorPath: 'x', pids: [7], ringMb: s.ringMb }).slice(-2), ['-b', '16']);
  const d = resolveTrace(['-p', '7', '--ring-mb', '1024']);
  assert.ok(d !== 'help' && d.ringMb === 1024);
  const none = resolveTrace(['-p', '7']);
  assert.ok(none !== 'help' && none.ringMb === undefined, 'no -b: the sensor picks its trace default');
  assert.ok(!traceArgs({ sensorPath: 'x', pids: [7] }).includes('-b'));
  for (const bad of ['0', '1025', 'x', '-1', '']) {
    assert.throws(() => resolveTrace(['-p', '7', '-b', bad]), (e: unknown) => e instanceof UsageError && e.flag === '-b', bad);
  }
});

test('wirelog-sensor trace: the usage text gives 64 MiB as the trace ring default', async () => {
  assert.ok(existsSync(sensorPath), `${sensorPath}: build the sensor first (scripts/build-sensor.sh)`);
  const r = await run(sensorPath, ['trace', '-h']);
  assert.match(r.stdout + r.stderr, /-b RING_MB +ring buffer size in MiB, rounded up to a power of two \(default 64\)/);
});
