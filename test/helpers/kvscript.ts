import { buildGoProgram } from './go-build.js';
import { repoPath } from './paths.js';
import { runCommand } from './processes.js';

/** The differential KV steps shared by the differential and Go client tests. */
export const kvStepsFile = repoPath('test', 'differential', 'kv-steps.json');
/** The whole script (about 90 steps) runs in a few hundred ms against etcd. */
const kvScriptTimeoutMs = 120_000;

export interface StepLine {
  step: number;
  name: string;
  result?: unknown;
  error?: { code: string; message: string; client: string };
}

/** Runs the Go clientv3 driver against endpoint; returns its output lines (one JSON line per step). */
export async function runKvScript(endpoint: string, stepsFile = kvStepsFile, extraArgs: readonly string[] = []): Promise<string[]> {
  const binary = await buildGoProgram('kvscript');
  const result = await runCommand(binary, ['--endpoints', endpoint, '--steps', stepsFile, ...extraArgs], { timeoutMs: kvScriptTimeoutMs });
  if (result.code !== 0) {
    throw new Error(`kvscript against ${endpoint} exited with ${result.code ?? result.signal}:\n${result.stderr}`);
  }
  return result.stdout.split('\n').filter((line) => line.length > 0);
}

export function parseStepLine(line: string): StepLine {
  return JSON.parse(line) as StepLine;
}
