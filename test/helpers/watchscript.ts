import { readFileSync } from 'node:fs';
import { buildGoProgram } from './go-build.js';
import { repoPath } from './paths.js';
import { runCommand } from './processes.js';

/** The differential Watch steps (run by test/interop/go/watchscript). */
export const watchStepsFile = repoPath('test', 'differential', 'watch-steps.json');
/**
 * The script takes about 2 s against etcd. Against a server that leaves responses out it is
 * bounded by the driver: 3 s per missing expect until 20 s are spent, then 250 ms each.
 */
const watchScriptTimeoutMs = 120_000;

export interface WatchStepLine {
  step: number;
  name: string;
  result?: unknown;
  error?: { code: string; message: string };
}

/** Number of steps in a steps file: the driver prints exactly one line per step. */
export function watchStepCount(stepsFile = watchStepsFile): number {
  return (JSON.parse(readFileSync(stepsFile, 'utf8')) as unknown[]).length;
}

/** Runs the Go Watch driver against endpoint; returns its output lines (one JSON line per step). */
export async function runWatchScript(endpoint: string, stepsFile = watchStepsFile): Promise<string[]> {
  const binary = await buildGoProgram('watchscript');
  const result = await runCommand(binary, ['--endpoints', endpoint, '--steps', stepsFile], { timeoutMs: watchScriptTimeoutMs });
  if (result.code !== 0) {
    throw new Error(`watchscript against ${endpoint} exited with ${result.code ?? result.signal}:\n${result.stderr}`);
  }
  return result.stdout.split('\n').filter((line) => line.length > 0);
}

export function parseWatchStepLine(line: string): WatchStepLine {
  return JSON.parse(line) as WatchStepLine;
}
