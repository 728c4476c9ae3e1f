/**
 * The proxy process (`drain-proxy` with no subcommand, the image's command):
 * configuration from the environment, signals, exit. Importing this module
 * starts the proxy.
 *
 * Exit: a drain started by a signal ends with the process exiting (0, or 3
 * when the deadline cut something). A drain started by `/drain` alone leaves
 * the process up, not ready and not listening, until a signal arrives: with a
 * native sidecar the kubelet sends the proxy SIGTERM only after the app exits.
 * A second SIGINT (Ctrl-C twice) cuts what is left at once.
 *
 * The drain's end is reported on three channels: the termination message
 * (written at once), the "drain finished" log line, and the metrics, which
 * need one more scrape: the exit waits for it (FinalScrape, bounded by
 * FINAL_SCRAPE_WAIT from the drain's end, so with a native sidecar the wait
 * overlaps the app's exit).
 */
import { ConfigError, formerNamesUsed, loadConfig, type Config } from './config/index.ts';
import { createLogger, type Logger } from './log/index.ts';
import { createDrainProxy } from './app.ts';
import type { DrainSummary } from './drain/controller.ts';
import { writeTerminationMessage } from './log/termination-message.ts';

export const EXIT_OK = 0;
export const EXIT_CONFIG = 1;
export const EXIT_STARTUP = 2;
export const EXIT_CUT = 3;

/** The longest the process waits for held `/drain?wait=1` answers to be written before it exits. */
const WAIT_ANSWER_GRACE_MS = 500;

function main(): void {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`drain-proxy: ${err.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const logger = createLogger(config.logLevel);
  for (const [former, current] of formerNamesUsed(process.env)) logger.warn({ variable: former, use: current }, 'older variable name: rename it');
  const proxy = createDrainProxy(config, logger);
  const { controller } = proxy;
  let exitOnDrained = false;
  let interrupts = 0;

  const exitCodeOf = (summary: DrainSummary): number => (summary.cut > 0 ? EXIT_CUT : EXIT_OK);
  const exit = (summary: DrainSummary): void => {
    const exitCode = exitCodeOf(summary);
    logger.info(
      {
        ...summary,
        closedByHint: summary.closed.drain_hint,
        closedByIdle: summary.closed.drain_idle,
        closedByDeadline: summary.closed.drain_deadline,
        exitCode,
      },
      'drain finished',
    );
    logger.flush();
    const grace = new Promise((resolve) => setTimeout(resolve, WAIT_ANSWER_GRACE_MS).unref());
    const answered = Promise.race([proxy.admin.answeredWaits(), grace]);
    void Promise.all([proxy.finalScrape.settled, answered]).then(([finalScrape]) => {
      logger.info({ exitCode, finalScrape: finalScrape.outcome, finalScrapeWaitedMs: finalScrape.waitedMs, scrapers: finalScrape.scrapers }, 'exiting');
      logger.flush();
      process.exit(exitCode);
    });
  };

  const onSignal = (signal: 'SIGTERM' | 'SIGINT'): void => {
    logger.info({ signal, phase: controller.phase }, 'signal received');
    if (signal === 'SIGINT' && ++interrupts >= 2) {
      controller.cutNow();
      proxy.finalScrape.skip();
    }
    if (exitOnDrained) return; // a repeated SIGTERM changes nothing
    exitOnDrained = true;
    controller.start(signal);
    void controller.whenDrained().then(exit);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  controller.on('drained', (summary) => {
    writeTerminationMessage(config.terminationMessagePath, { msg: 'drain finished', ...summary, exitCode: exitCodeOf(summary) }, logger);
    if (!exitOnDrained) {
      logger.info({ ...summary }, 'drain finished; waiting for a signal to exit');
    }
  });

  proxy.start().then(
    ({ listenPort, adminPort }) => {
      const httpPorts = config.httpPorts.map((mapping) => mapping.listen);
      const tls = config.tlsCertFile !== '';
      logger.info({ listenPort, httpPorts, adminPort, upstream: config.upstream.url, tls, proxyProtocol: config.proxyProtocol, memoryLimitBytes: proxy.memoryGuard.limitBytes }, 'drain-proxy started');
    },
    (err: NodeJS.ErrnoException) => {
      // A certificate or key that does not load is bad configuration: one line naming the variable, as for the others.
      if (err.name !== 'TlsCredentialsError') fatal(logger, err);
      process.stderr.write(`drain-proxy: ${err.message}\n`);
      process.exit(EXIT_CONFIG);
    },
  );
}

function fatal(logger: Logger, err: NodeJS.ErrnoException): never {
  logger.fatal({ err: err.message, code: err.code }, 'cannot start');
  logger.flush();
  process.exit(EXIT_STARTUP);
}

main();
