// The `lattice` entry point. `lattice snapshot …` (etcdctl's restore and status against a file) and
// the server load apart: a restore does not pay at start-up for the server's configuration layer
// (the flag table, YAML and TOML parsers), as etcdctl's restore pays for no server either.

async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv[0] === 'snapshot') return (await import('./snapshot-command.js')).runSnapshotCommand(argv.slice(1));
  return (await import('./server-command.js')).runServerCommand(argv, env);
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
    // Handles left open by a server that closed badly must not keep a stopped process alive; the timer is
    // unref'd so a process with nothing left open (or still flushing stdout) ends on its own first.
    setTimeout(() => process.exit(code), 1000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`lattice: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 1000).unref();
  },
);
