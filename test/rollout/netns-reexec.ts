/**
 * enterFreshNetns() from a script's first line: the parent re-executes this
 * file in a fresh namespace and exits with the child's code. The child reports
 * where it runs as one JSON line, shows that 127.0.1.N works on a bare `lo`,
 * and exits with the code in argv[2] (to check the code is propagated).
 */
import http from 'node:http';
import { once } from 'node:events';
import { enterFreshNetns, inNetworkNamespace, netnsName, NETNS_ENV } from '../../rollout/netns.ts';

await enterFreshNetns();

const address = '127.0.1.7';
const server = http.createServer((_req, res) => res.end(address));
server.listen(8000, address);
await once(server, 'listening');
const body = await (await fetch(`http://${address}:8000/`)).text();
server.close();
console.log(JSON.stringify({ marker: process.env[NETNS_ENV], name: netnsName(), inNetworkNamespace: inNetworkNamespace(), body }));
process.exit(Number(process.argv[2] ?? 0));
