/**
 * Values the charts refuse, each with the message that tells the user what to
 * change: wrong types and unknown keys (values.schema.json), impossible
 * timings and conflicting options (`fail` in the library's templates).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eachHelm, OPERATOR_API } from './helm.ts';
import { checkWiring } from './pod.ts';

/**
 * values.schema.json refusals: Helm names the chart by its alias and the field
 * under "values don't meet the specifications of the schema(s)", in its
 * validator's words: gojsonschema's up to Helm 3.17 (`drain.timeoutSeconds:
 * Invalid type...`), santhosh-tekuri/jsonschema's from 3.18 and in Helm 4
 * (`at '/drain/timeoutSeconds': got string, want integer`). Each case gives both.
 */
const schemaCases: { name: string; set?: string[]; setString?: string[]; chart?: string; wording: Record<'gojsonschema' | 'jsonschema', RegExp> }[] = [
  { name: 'a number as text', set: ['drainProxy.drain.timeoutSeconds=abc'], wording: {
    gojsonschema: /- drain\.timeoutSeconds: Invalid type\. Expected: integer, given: string/,
    jsonschema: /- at '\/drain\/timeoutSeconds': got string, want integer/ } },
  { name: 'a boolean as text', setString: ['drainProxy.log.access=yes'], wording: {
    gojsonschema: /- log\.access: Invalid type\. Expected: boolean, given: string/,
    jsonschema: /- at '\/log\/access': got string, want boolean/ } },
  { name: 'an unknown mode', set: ['drainProxy.mode=sidecar'], wording: {
    gojsonschema: /- mode: mode must be one of the following: "auto", "native", "classic"/,
    jsonschema: /- at '\/mode': value must be one of 'auto', 'native', 'classic'/ } },
  { name: 'a misspelt key', set: ['drainProxy.drain.timeout=30'], wording: {
    gojsonschema: /- drain: Additional property timeout is not allowed/,
    jsonschema: /- at '\/drain': additional properties 'timeout' not allowed/ } },
  { name: 'a duration without a unit the proxy knows', set: ['drainProxy.drain.idleClose=5sec'], wording: {
    gojsonschema: /- drain\.idleClose: Does not match pattern/,
    jsonschema: /- at '\/drain\/idleClose': '5sec' does not match pattern/ } },
  { name: 'a negative delay', set: ['drainProxy.drain.delaySeconds=-1'], wording: {
    gojsonschema: /- drain\.delaySeconds: Must be greater than or equal to 0/,
    jsonschema: /- at '\/drain\/delaySeconds': minimum: got -1, want 0/ } },
  { name: 'a port out of range', set: ['drainProxy.listen.port=70000'], wording: {
    gojsonschema: /- listen\.port: Must be less than or equal to 65535/,
    jsonschema: /- at '\/listen\/port': maximum: got 70,000, want 65,535/ } },
  { name: 'a port name longer than 15', set: ['drainProxy.listen.portName=a-very-long-port-name'], wording: {
    gojsonschema: /- listen\.portName: String length must be less than or equal to 15/,
    jsonschema: /- at '\/listen\/portName': maxLength: got 21, want 15/ } },
  { name: 'a log level pino lacks', set: ['drainProxy.log.level=verbose'], wording: {
    gojsonschema: /- log\.level: log\.level must be one of the following: "trace"/,
    jsonschema: /- at '\/log\/level': value must be one of 'trace'/ } },
  { name: 'a WebSocket close code outside 1001/1012', set: ['drainProxy.websocket.closeCode=1000'], wording: {
    gojsonschema: /- websocket\.closeCode: websocket\.closeCode must be one of the following: 1012, 1001/,
    jsonschema: /- at '\/websocket\/closeCode': value must be one of 1012, 1001/ } },
  { name: 'no image', set: ['drainProxy.image.repository=null'], wording: {
    gojsonschema: /- image: repository is required/,
    jsonschema: /- at '\/image': missing property 'repository'/ } },
  { name: "the example's own values", set: ['replicaCount=two'], chart: 'drain-proxy-example', wording: {
    gojsonschema: /- replicaCount: Invalid type\. Expected: integer, given: string/,
    jsonschema: /- at '\/replicaCount': got string, want integer/ } },
];

/** Refusals by the library's templates (`fail`), with the chart's own words. */
const cases: { name: string; set?: string[]; setString?: string[]; message: RegExp }[] = [
  // fail in templates: impossible timings
  { name: 'delay not shorter than the deadline', set: ['drainProxy.drain.delaySeconds=30', 'drainProxy.drain.timeoutSeconds=30'], message: /drain-proxy: drain\.delaySeconds \(30\) must be less than drain\.timeoutSeconds \(30\): the deadline counts from the drain's start and includes the delay/ },
  { name: 'a grace period shorter than the deadline', set: ['drainProxy.terminationGracePeriodSeconds=20'], message: /drain-proxy: terminationGracePeriodSeconds \(20\) must be greater than drain\.timeoutSeconds \(25\).*leave it empty: drain\.timeoutSeconds \+ graceMarginSeconds = 30/ },
  { name: 'a grace period with no room for the final scrape', set: ['drainProxy.monitoring.podMonitor.enabled=true', 'drainProxy.monitoring.checkCRDs=false', 'drainProxy.terminationGracePeriodSeconds=40'], message: /terminationGracePeriodSeconds \(40\) must be greater than drain\.timeoutSeconds \(25\) \+ the final scrape wait \(17s, monitoring\.finalScrapeWait: .*leave it empty: 47\), or lower monitoring\.finalScrapeWait/ },
  { name: 'a grace period equal to the deadline', set: ['drainProxy.terminationGracePeriodSeconds=25'], message: /terminationGracePeriodSeconds \(25\) must be greater than drain\.timeoutSeconds \(25\)/ },
  { name: 'a WebSocket close timeout past the deadline', setString: ['drainProxy.websocket.closeTimeout=20s'], message: /websocket\.closeTimeout \(20s\) must be shorter than drain\.timeoutSeconds - drain\.delaySeconds \(20s\)/ },
  { name: 'a close spread past the deadline', setString: ['drainProxy.drain.closeSpread=1.5m'], message: /drain\.closeSpread \(1\.5m\) plus the WebSocket close timeout \(2000ms\) must fit between drain\.delaySeconds and drain\.timeoutSeconds \(20s\)/ },
  { name: 'a close spread past the deadline, under its older name', setString: ['drainProxy.websocket.closeSpread=1.5m'], message: /websocket\.closeSpread \(1\.5m\) plus the WebSocket close timeout \(2000ms\) must fit/ },
  { name: 'the close spread under both names', setString: ['drainProxy.drain.closeSpread=3s', 'drainProxy.websocket.closeSpread=4s'], message: /drain\.closeSpread \(3s\) and websocket\.closeSpread \(4s\) are both set: websocket\.closeSpread is the older name of drain\.closeSpread\. Keep only drain\.closeSpread/ },
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

eachHelm((helm) => {
  describe('values the chart refuses, with the intended message', () => {
    for (const c of schemaCases) {
      test(`schema: ${c.name}`, () => {
        const stderr = helm.renderFailure({ set: c.set, setString: c.setString });
        assert.match(stderr, /values don't meet the specifications of the schema\(s\) in the following chart\(s\):/);
        assert.match(stderr, new RegExp(`^${c.chart ?? 'drainProxy'}:$`, 'm'), 'the chart named by its alias');
        assert.match(stderr, c.wording[helm.schemaValidator]);
      });
    }

    for (const c of cases) {
      test(c.name, () => {
        const stderr = helm.renderFailure({ set: c.set, setString: c.setString });
        assert.match(stderr, c.message);
      });
    }

    test('the same values one step inside the limits render, and the proxy accepts them', () => {
      checkWiring(helm.render({ set: ['drainProxy.drain.delaySeconds=24', 'drainProxy.drain.timeoutSeconds=25', 'drainProxy.terminationGracePeriodSeconds=26'] }));
      checkWiring(helm.render({ set: ['drainProxy.drain.delaySeconds=5'], setString: ['drainProxy.drain.closeSpread=18s', 'drainProxy.websocket.closeTimeout=1999ms'] }));
      helm.render({ set: ['drainProxy.monitoring.podMonitor.enabled=true', 'drainProxy.podDisruptionBudget.enabled=true', 'drainProxy.autoscaling.enabled=true', 'drainProxy.autoscaling.minReplicas=10'], apiVersions: OPERATOR_API });
      helm.render({ set: ['drainProxy.tcp.ports[0].port=9902', 'drainProxy.tcp.ports[0].upstreamPort=6379', 'drainProxy.drain.delaySeconds=0'] });
      helm.render({ set: ['global.imageRegistry=registry.example.com'] }); // the library's schema allows Helm's global values
    });
  });
});
