/**
 * Reproduction of HTTP/1.1's keep-alive close race at drain start: a request sent
 * on a keep-alive connection that has been idle longer than DRAIN_IDLE_CLOSE, at
 * the moment a drain starts. drain-proxy closes the idle connection at t0; the
 * request crosses the close and the first attempt sees ECONNRESET. The emulated
 * client sends it again on a new connection (RFC 9112 section 9.3.1, as Go and
 * browsers do; Node's http.Agent would report the error). Direct to drain-proxy,
 * no Service in between.
 *
 *   npm run rollout:idle-race [-- tries]        (DELAYS=0,1,2: ms between the drain request and the request)
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPod } from '../demo/support/pods.ts';
import { sendRequest } from '../demo/support/traffic.ts';
import { numberSetting, runMain } from '../harness/cli.ts';
import { httpGet } from '../harness/http.ts';

const tries = numberSetting('tries', process.argv[2], 10, 1, 50);
const settings = { DRAIN_DELAY: '1s', DRAIN_TIMEOUT: '5s', DRAIN_IDLE_CLOSE: '1s', HEALTH_INTERVAL: '250ms', CLOSE_SPREAD: '0s', WS_CLOSE_TIMEOUT: '1s', WS_CLOSE_CODE: '1012' };
const DELAYS = (process.env.DELAYS ?? '0,1,2').split(',').map(Number);

async function main(): Promise<number> {
  let lost = 0;
  let raced = 0;
  for (let i = 0; i < tries; i++) {
    const pod = await startPod({ name: `race-${i}`, ip: `127.0.2.${i + 2}`, appPort: 8080, proxyPort: 8000, adminPort: 9901 }, settings);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const clock = (): number => performance.now();
    await sendRequest(agent, pod.endpoint, '/', 5000, clock);
    await sleep(1100); // idle > DRAIN_IDLE_CLOSE
    const drain = httpGet(`http://${pod.address.ip}:${pod.address.adminPort}/drain`, 5000);
    await sleep(DELAYS[i % DELAYS.length]); // after the drain request was sent
    const outcome = await sendRequest(agent, pod.endpoint, '/', 5000, clock);
    await drain;
    if (outcome.kind !== 'ok') lost++;
    if (outcome.retried.length > 0) raced++;
    const first = outcome.retried.length > 0 ? `first attempt ${outcome.retried[0]}, then ` : '';
    console.log(`try ${i} (${DELAYS[i % DELAYS.length]} ms after /drain was sent): ${first}${outcome.kind} (${outcome.detail})`);
    agent.destroy();
    await Promise.all([pod.app.stop(3000), pod.proxy?.stop(3000)]);
  }
  console.log(`${raced} of ${tries} requests crossed the close (sent again); ${lost} lost`);
  return 0;
}

runMain('race reproduction', main, 10 * 60_000);
