// The new-connection section of npm run bench (`npm run bench -- connections`): the HTTP/1.1 section's targets
// and load, with every request on a connection of its own (`Connection: close`, as clients without keep-alive,
// probes and scripts send them): what accepting, framing and closing a connection costs each proxy per request.
import { median, pairedRatios, reportMedians, runsOf, summarize, type BenchSummary } from '../harness/bench.ts';
import { HEADER, rows, startHttp1Targets, UNITS, wrkLoad, wrkRounds } from './http1.ts';
import { markers, measuredOn, writeRawOutput, type BenchContext, type BenchSection } from './session.ts';

const CLOSE = ['-H', 'Connection: close'];

function ratioLine(summaries: readonly BenchSummary[]): string {
  const ratios = pairedRatios(runsOf(summaries, 'drain-proxy'), runsOf(summaries, 'nginx'), (run) => run.proxyCpuUs);
  if (ratios.length === 0) return 'drain-proxy was not measured.';
  return `drain-proxy uses ${median(ratios).toFixed(2)}x nginx's CPU per request on a new connection each `
    + `(median of per-round ratios; rounds ${ratios.map((r) => r.toFixed(2)).join(', ')}).`;
}

async function run(context: BenchContext): Promise<string | undefined> {
  const { appPid, targets } = await startHttp1Targets(context, 'new-connections');
  const runs = await wrkRounds(context, 'wrk-close', targets, appPid, CLOSE);
  const summaries = summarize(targets, runs);
  const tail = reportMedians('New connection per request', context, UNITS, summaries, HEADER, rows(summaries), [ratioLine(summaries)], ' req/s');
  writeRawOutput('last-run-new-connections.json', JSON.stringify({ context, runs }, null, 2));
  if (!targets.some((target) => target.name === 'drain-proxy')) return undefined;
  return `${measuredOn(context)}
- Versions: Node ${context.versions.node}, nginx ${context.versions.nginx}, wrk ${context.versions.wrk}
- Load: ${wrkLoad(context, ` -H 'Connection: close'`)}; each request on a new connection, which the server closes after its response

${tail}`;
}

export const newConnectionsSection: BenchSection = {
  name: 'connections', switch: 'BENCH_NEW_CONNECTIONS', markers: markers('bench-new-connections-results', 'Latest new-connection run'), run,
};
