import type { TestContext } from 'node:test';
import { existsSync } from 'node:fs';
import { sensorPath } from './paths.js';

/** Why a privileged test cannot run here, or undefined when it can. */
export function privilegeProblem(needSensor = true): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (BPF, network namespaces)';
  if (needSensor && !existsSync(sensorPath)) return `sensor not built at ${sensorPath} (run npm run build)`;
  return undefined;
}

/**
 * Call at the top of a privileged test. Elsewhere the test is skipped with the reason printed;
 * under CI=true a test that cannot run fails instead of skipping.
 * Returns true when the test may go on.
 */
export function requirePrivileges(t: TestContext, needSensor = true): boolean {
  const why = privilegeProblem(needSensor);
  if (why === undefined) return true;
  if (process.env.CI === 'true') throw new Error(`privileged test cannot run under CI: ${why}`);
  t.skip(why);
  return false;
}
