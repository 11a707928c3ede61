import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { cliPath, repoRoot } from '../helpers/paths.js';
import { parseArgs, UsageError, type OptionSpec } from '../../src/cli/args.js';
import { resolveCapture, CAPTURE_OPTIONS, type CaptureSettings } from '../../src/cli/config.js';

function settings(argv: string[]): CaptureSettings {
  const cmd = resolveCapture(argv, {}, { defaultConfigFile: '' });
  assert.equal(cmd.action, 'run');
  return (cmd as { settings: CaptureSettings }).settings;
}

function usageError(argv: string[], message: RegExp, flag: string): void {
  assert.throws(() => resolveCapture(argv, {}, { defaultConfigFile: '' }), (e: unknown) => {
    assert.ok(e instanceof UsageError, `not a UsageError: ${String(e)}`);
    assert.match(e.message, message);
    assert.equal(e.flag, flag);
    assert.ok(e.message.includes(flag), `message does not name ${flag}: ${e.message}`);
    return true;
  });
}

test('every capture flag, short and long forms', () => {
  const s = settings([
    '-i', 'eth0', '-p', '80,8080', '-p', '3000', '-s', '1500', '-b', '16', '-c', '100', '-d', '/tmp/logs',
    '--log-split', '--log-every', '1000', '-r', 'cap.pcapng', '--format', 'jsonl', '--no-reassembly',
    '--local-addr', '10.0.0.1,::1', '--local-addr', '0:0::2', '--verbose',
  ]);
  assert.equal(s.iface, 'eth0');
  assert.deepEqual(s.ports, [80, 8080, 3000]);
  assert.equal(s.snaplen, 1500);
  assert.equal(s.bufferMb, 16);
  assert.equal(s.count, 100);
  assert.equal(s.dir, '/tmp/logs');
  assert.equal(s.logSplit, true);
  assert.equal(s.logEvery, 1000);
  assert.equal(s.readFile, 'cap.pcapng');
  assert.equal(s.format, 'jsonl');
  assert.equal(s.reassembly, false);
  assert.deepEqual(s.localAddrs, ['10.0.0.1', '::1', '::2']);
  assert.equal(s.verbose, true);

  const l = settings(['--iface=lo', '--ports=any', '--snaplen', '64', '--buffer-mb=2', '--count=5', '--dir', 'd', '--read', '-']);
  assert.deepEqual([l.iface, l.ports, l.snaplen, l.bufferMb, l.count, l.dir, l.readFile], ['lo', 'any', 64, 2, 5, 'd', '-']);
  assert.deepEqual(settings(['-p8081', '--ports=8082']).ports, [8081, 8082]);
  assert.equal(settings(['-p', 'any']).ports, 'any');
  assert.equal(settings(['-p', 'ANY']).ports, 'any');
  assert.deepEqual(settings(['-p', '80,80, 81']).ports, [80, 81]);
  assert.deepEqual(resolveCapture(['-h'], {}, { defaultConfigFile: '' }), { action: 'help' });
  assert.deepEqual(resolveCapture(['--help', '-p', 'bad'], {}, { defaultConfigFile: '' }), { action: 'help' });
  assert.deepEqual(resolveCapture(['-v'], {}, { defaultConfigFile: '' }), { action: 'version' });
  assert.deepEqual(resolveCapture(['--version'], {}, { defaultConfigFile: '' }), { action: 'version' });
});

test('bad values and unknown flags are usage errors naming the flag', () => {
  usageError(['-p', 'http'], /bad port 'http'/, '-p');
  usageError(['--ports', '0'], /bad port '0'/, '--ports');
  usageError(['-p', '65536'], /bad port/, '-p');
  usageError(['-p', '80,any'], /'any' cannot be combined/, '-p');
  usageError(['-p', ','], /bad port ''/, '-p');
  usageError(['-s', '4097'], /snaplen must be 1\.\.4096/, '-s');
  usageError(['-s', '0'], /snaplen must be 1\.\.4096/, '-s');
  usageError(['-b', 'big'], /must be an integer/, '-b');
  usageError(['-c', '-1'], /must be an integer, got '-1'/, '-c');
  usageError(['-c', '0'], /count must be 1\.\./, '-c');
  usageError(['--log-every', '1.5'], /must be an integer/, '--log-every');
  usageError(['--format', 'xml'], /unknown format 'xml'/, '--format');
  usageError(['--local-addr', 'localhost'], /not an IP address: 'localhost'/, '--local-addr');
  usageError(['-i', 'a/b'], /bad interface name/, '-i');
  usageError(['-r', ''], /needs a file name/, '-r');
  usageError(['-x'], /unknown option -x/, '-x');
  usageError(['--colour'], /unknown option --colour/, '--colour');
  usageError(['--no-format'], /unknown option --no-format/, '--no-format');
  usageError(['-p'], /option -p needs a value/, '-p');
  usageError(['--dir'], /option --dir needs a value/, '--dir');
  usageError(['--log-split=yes'], /takes no value/, '--log-split');
  assert.throws(() => resolveCapture(['extra'], {}, { defaultConfigFile: '' }), /unexpected argument 'extra'/);
});

test('parser details: grouped booleans, -pVALUE, --, last single value wins', () => {
  const specs: OptionSpec[] = [
    { name: 'a', short: 'a', value: false },
    { name: 'b', short: 'b', value: false, negatable: true },
    { name: 'n', short: 'n', value: true },
    { name: 'm', short: 'm', value: true, multiple: true },
  ];
  const p = parseArgs(['-ab', '-n1', '-n', '2', '-m', 'x', '--m=y', '--no-b', 'pos', '--', '-a'], specs);
  assert.deepEqual(p.flags.get('a')?.values, ['true']);
  assert.deepEqual(p.flags.get('b')?.values, ['false']);
  assert.deepEqual(p.flags.get('n')?.values, ['2']);
  assert.deepEqual(p.flags.get('m')?.values, ['x', 'y']);
  assert.equal(p.flags.get('m')?.as, '--m');
  assert.deepEqual(p.positionals, ['pos', '-a']);
});

function cli(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('built CLI: --version, --help, usage errors exit 2 naming the flag, unknown command', (t) => {
  if (!fs.existsSync(cliPath)) return t.skip(`CLI not built at ${cliPath}`);
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  for (const args of [['--version'], ['-v'], ['capture', '--version']]) {
    const r = cli(args);
    assert.equal(r.status, 0, args.join(' '));
    assert.equal(r.stdout, `wirelog ${pkg.version}\n`);
  }
  const top = cli(['--help']);
  assert.equal(top.status, 0);
  assert.match(top.stdout, /^Usage: wirelog <command>/);
  assert.match(top.stdout, /\n {2}capture /);
  const h = cli(['capture', '--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /^Usage: wirelog capture \[options\]/);
  for (const o of CAPTURE_OPTIONS) assert.ok(h.stdout.includes(`--${o.name}`), `help lacks --${o.name}`);
  for (const short of ['-i', '-p', '-s', '-b', '-c', '-d', '-r', '-v', '-h']) assert.ok(h.stdout.includes(`${short}, --`), `help lacks ${short}`);
  assert.equal(cli(['help', 'capture']).stdout, h.stdout);

  const none = cli([]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /Usage: wirelog/);
  const unk = cli(['frobnicate']);
  assert.equal(unk.status, 2);
  assert.match(unk.stderr, /^wirelog: error: unknown command 'frobnicate'/);
  for (const [args, re] of [
    [['capture', '-p', 'x'], /^wirelog: error: -p: bad port 'x'/],
    [['capture', '--snaplen', '99999'], /^wirelog: error: --snaplen: snaplen must be 1\.\.4096/],
    [['capture', '--bogus'], /^wirelog: error: unknown option --bogus/],
    [['capture', '-r'], /^wirelog: error: option -r needs a value/],
  ] as Array<[string[], RegExp]>) {
    const r = cli(args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, re);
    assert.equal(r.stdout, '');
  }
  const envBad = cli(['capture', '-r', '/dev/null'], { WIRELOG_FORMAT: 'yaml' });
  assert.equal(envBad.status, 2);
  assert.match(envBad.stderr, /WIRELOG_FORMAT: unknown format 'yaml'/);
  const cfgMissing = cli(['capture', '--config', '/nonexistent.conf']);
  assert.equal(cfgMissing.status, 1);
  assert.match(cfgMissing.stderr, /^wirelog: error: config file \/nonexistent\.conf: /);
});
