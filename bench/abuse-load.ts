// One abusive client shape of the abuse benchmark (bench/abuse.ts), run as its own process so that the
// attacker's CPU is not the measurer's: `node bench/abuse-load.ts CONFIG-JSON`. Runs the shape until its
// deadline and prints `result {json}` (the AbuseStats), then exits.
import { ABUSE_SHAPES, runAbuse, type AbuseShape } from '../test/helpers/abuse.ts';

interface AbuseLoadConfig {
  readonly shape: AbuseShape;
  readonly port: number;
  readonly seconds: number;
  readonly connections: number;
  readonly headerBytes?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as AbuseLoadConfig;
if (!ABUSE_SHAPES.includes(config.shape) || !Number.isInteger(config.port) || !(config.seconds > 0) || !(config.connections > 0)) {
  console.error('usage: node bench/abuse-load.ts \'{"shape":"h1-pipeline","port":8000,"seconds":10,"connections":20}\'');
  process.exit(2);
}
const stats = await runAbuse(config.shape, {
  port: config.port,
  connections: config.connections,
  until: performance.now() + config.seconds * 1000,
  headerBytes: config.headerBytes,
});
console.log(`result ${JSON.stringify(stats)}`);
process.exit(0);
