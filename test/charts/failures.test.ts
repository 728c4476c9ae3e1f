/**
 * Values the charts refuse, each with the message that tells the user what to
 * change: wrong types and unknown keys (values.schema.json), impossible
 * timings and conflicting options (`fail` in the library's templates).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isStandIn, render, renderFailure } from './helm.ts';
import { checkWiring } from './pod.ts';

/**
 * values.schema.json refusals: Helm names the field (a.b or /a/b, by version)
 * under "values don't meet the specifications of the schema(s)"; with the
 * stand-in (gojsonschema, as Helm up to 3.17) the exact wording is checked too.
 */
const schemaCases: { name: string; set?: string[]; setString?: string[]; field: string; wording: RegExp }[] = [
  { name: 'a number as text', set: ['drainProxy.drain.timeoutSeconds=abc'], field: 'drain.timeoutSeconds', wording: /drain\.timeoutSeconds: Invalid type\. Expected: integer, given: string/ },
  { name: 'a boolean as text', setString: ['drainProxy.log.access=yes'], field: 'log.access', wording: /log\.access: Invalid type\. Expected: boolean, given: string/ },
  { name: 'an unknown mode', set: ['drainProxy.mode=sidecar'], field: 'mode', wording: /mode: mode must be one of the following: "auto", "native", "classic"/ },
  { name: 'a misspelt key', set: ['drainProxy.drain.timeout=30'], field: 'drain', wording: /drain: Additional property timeout is not allowed/ },
  { name: 'a duration without a unit the proxy knows', set: ['drainProxy.drain.idleClose=5sec'], field: 'drain.idleClose', wording: /drain\.idleClose: Does not match pattern/ },
  { name: 'a negative delay', set: ['drainProxy.drain.delaySeconds=-1'], field: 'drain.delaySeconds', wording: /drain\.delaySeconds: Must be greater than or equal to 0/ },
  { name: 'a port out of range', set: ['drainProxy.listen.port=70000'], field: 'listen.port', wording: /listen\.port: Must be less than or equal to 65535/ },
  { name: 'a port name longer than 15', set: ['drainProxy.listen.portName=a-very-long-port-name'], field: 'listen.portName', wording: /listen\.portName: String length must be less than or equal to 15/ },
  { name: 'a log level pino lacks', set: ['drainProxy.log.level=verbose'], field: 'log.level', wording: /log\.level: log\.level must be one of the following/ },
  { name: 'a WebSocket close code outside 1001/1012', set: ['drainProxy.websocket.closeCode=1000'], field: 'websocket.closeCode', wording: /websocket\.closeCode: websocket\.closeCode must be one of the following/ },
  { name: 'no image', set: ['drainProxy.image.repository=null'], field: 'image', wording: /image: repository is required/ },
  { name: "the example's own values", set: ['replicaCount=two'], field: 'replicaCount', wording: /replicaCount: Invalid type/ },
];

/** Refusals by the library's templates (`fail`), with the chart's own words. */
const cases: { name: string; set?: string[]; setString?: string[]; message: RegExp }[] = [
  // fail in templates: impossible timings
  { name: 'delay not shorter than the deadline', set: ['drainProxy.drain.delaySeconds=30', 'drainProxy.drain.timeoutSeconds=30'], message: /drain-proxy: drain\.delaySeconds \(30\) must be less than drain\.timeoutSeconds \(30\): the deadline counts from the drain's start and includes the delay/ },
  { name: 'a grace period shorter than the deadline', set: ['drainProxy.terminationGracePeriodSeconds=20'], message: /drain-proxy: terminationGracePeriodSeconds \(20\) must be greater than drain\.timeoutSeconds \(25\).*leave it empty: drain\.timeoutSeconds \+ graceMarginSeconds = 30/ },
  { name: 'a grace period equal to the deadline', set: ['drainProxy.terminationGracePeriodSeconds=25'], message: /terminationGracePeriodSeconds \(25\) must be greater than drain\.timeoutSeconds \(25\)/ },
  { name: 'a WebSocket close timeout past the deadline', setString: ['drainProxy.websocket.closeTimeout=20s'], message: /websocket\.closeTimeout \(20s\) must be shorter than drain\.timeoutSeconds - drain\.delaySeconds \(20s\)/ },
  { name: 'a WebSocket close spread past the deadline', setString: ['drainProxy.websocket.closeSpread=1.5m'], message: /websocket\.closeSpread \(1\.5m\) plus the close timeout \(2000ms\) must fit between drain\.delaySeconds and drain\.timeoutSeconds \(20s\)/ },
  // fail in templates: conflicting options
  { name: 'both monitors', set: ['drainProxy.monitoring.podMonitor.enabled=true', 'drainProxy.monitoring.serviceMonitor.enabled=true'], message: /monitoring\.podMonitor\.enabled and monitoring\.serviceMonitor\.enabled are both true.*Enable one of them/ },
  { name: 'both PDB bounds', set: ['drainProxy.podDisruptionBudget.enabled=true', 'drainProxy.podDisruptionBudget.minAvailable=1'], message: /podDisruptionBudget\.minAvailable and podDisruptionBudget\.maxUnavailable are both set/ },
  { name: 'HPA minimum above maximum', set: ['drainProxy.autoscaling.enabled=true', 'drainProxy.autoscaling.minReplicas=12'], message: /autoscaling\.minReplicas \(12\) is above autoscaling\.maxReplicas \(10\)/ },
  { name: 'the same port twice', set: ['drainProxy.admin.port=8000'], message: /listen\.port and admin\.port are both 8000/ },
  { name: 'the proxy as its own upstream', set: ['drainProxy.upstream.port=9901'], message: /upstream\.port 9901 is a port of the proxy itself/ },
  { name: 'a TCP port on the admin port', set: ['drainProxy.tcp.ports[0].port=9901', 'drainProxy.tcp.ports[0].upstreamPort=6379'], message: /tcp\.ports: port 9901 is already taken/ },
  { name: 'a TCP port name reused', set: ['drainProxy.tcp.ports[0].port=6379', 'drainProxy.tcp.ports[0].upstreamPort=16379', 'drainProxy.tcp.ports[0].name=http'], message: /port name http is used twice/ },
  { name: 'an admin port bound to loopback', set: ['drainProxy.admin.address=127.0.0.1'], message: /admin\.address must not be a loopback address: probes and the preStop hook come from the node/ },
  { name: 'extraEnv overriding a chart value', set: ['drainProxy.extraEnv[0].name=DRAIN_TIMEOUT', 'drainProxy.extraEnv[0].value=60s'], message: /extraEnv sets DRAIN_TIMEOUT, which the chart already sets from its values: set the matching drainProxy value instead/ },
];

describe('values the chart refuses, with the intended message', () => {
  const standIn = isStandIn();
  for (const c of schemaCases) {
    test(`schema: ${c.name}`, () => {
      const stderr = renderFailure({ set: c.set, setString: c.setString });
      assert.match(stderr, /values don't meet the specifications of the schema/);
      const slashed = `/${c.field.replaceAll('.', '/')}`;
      assert.ok(stderr.includes(c.field) || stderr.includes(slashed), `the message names ${c.field}: ${stderr}`);
      if (standIn) assert.match(stderr, c.wording);
    });
  }

  for (const c of cases) {
    test(c.name, () => {
      const stderr = renderFailure({ set: c.set, setString: c.setString });
      assert.match(stderr, c.message);
    });
  }

  test('the same values one step inside the limits render, and the proxy accepts them', () => {
    checkWiring(render({ set: ['drainProxy.drain.delaySeconds=24', 'drainProxy.drain.timeoutSeconds=25', 'drainProxy.terminationGracePeriodSeconds=26'] }));
    checkWiring(render({ set: ['drainProxy.drain.delaySeconds=5'], setString: ['drainProxy.websocket.closeSpread=18s', 'drainProxy.websocket.closeTimeout=1999ms'] }));
    render({ set: ['drainProxy.monitoring.podMonitor.enabled=true', 'drainProxy.podDisruptionBudget.enabled=true', 'drainProxy.autoscaling.enabled=true', 'drainProxy.autoscaling.minReplicas=10'] });
    render({ set: ['drainProxy.tcp.ports[0].port=9902', 'drainProxy.tcp.ports[0].upstreamPort=6379', 'drainProxy.drain.delaySeconds=0'] });
    render({ set: ['global.imageRegistry=registry.example.com'] }); // the library's schema allows Helm's global values
  });
});
