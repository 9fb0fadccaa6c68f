#!/usr/bin/env node
// The `tok1d` command: a thin shim over the compiled CLI in dist/.
import { fileURLToPath } from 'node:url';

let cli;
let relay;
try {
  relay = await import('../dist/src/cli/relay.js');
  relay.followRelayingParent();
  cli = relay.needsRelay(process.argv.slice(2)) ? null : await import('../dist/src/cli/main.js');
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/src/cli/')) {
    process.stderr.write("tok1d: the package is not built (dist/ is missing); run 'npm run build' first\n");
    process.exitCode = 1;
  } else {
    throw err;
  }
}
if (cli) process.exitCode = await cli.main(process.argv.slice(2));
else if (cli === null) process.exitCode = await relay.relay(fileURLToPath(import.meta.url), process.argv.slice(2));
