#!/usr/bin/env node
// The first Ctrl-C (or SIGTERM) asks the command to stop and clean up; later ones are
// ignored until it has, since dying half-way would leave its temporary folder behind. The
// handlers go in before the CLI's modules (onnxruntime, sharp) load, which takes a moment.
const interrupt = new AbortController();
const stop = () => interrupt.abort();
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

const { runCli } = await import('./run.js');
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  signal: interrupt.signal,
});
