#!/usr/bin/env node
/**
 * The `drain-proxy` command. With no subcommand it is the proxy (the image's
 * command). `drain-proxy inject` and `drain-proxy uninject` rewrite
 * Kubernetes manifests; they are dispatched before anything of the proxy is
 * loaded, so they open no port and load neither node:http nor prom-client.
 */
const [command, ...args] = process.argv.slice(2);

if (command === 'inject' || command === 'uninject') {
  const { runManifestCommand } = await import('./inject/cli.ts');
  process.exitCode = await runManifestCommand(command, args);
} else {
  await import('./serve.ts');
}
