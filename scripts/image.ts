/**
 * `npm run image`: builds the Dockerfile into localhost/drain-proxy:dev with
 * buildah, base images included where no registry serves them
 * (docs/image.md).
 */
import { killAllChildrenNow } from '../bench/children.ts';
import { buildImage, containerEngineUnavailable, IMAGE } from './image/build.ts';

const unavailable = containerEngineUnavailable();
if (unavailable !== undefined) {
  process.stderr.write(`npm run image: ${unavailable}\n`);
  process.exit(1);
}

// The build's commands run in process groups of their own: an interrupted build takes them along.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllChildrenNow();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

try {
  const image = await buildImage((line) => console.log(line));
  for (const base of image.bases) console.log(`base ${base.name}: ${base.origin} (${base.seconds.toFixed(1)} s)`);
  console.log(
    `${IMAGE} (image ${image.id.slice(0, 12)}): ${(image.sizeBytes / 1e6).toFixed(0)} MB; ` +
    `Dockerfile built in ${image.dockerfileSeconds.toFixed(1)} s, ${image.totalSeconds.toFixed(1)} s in all`,
  );
} catch (err) {
  process.stderr.write(`npm run image: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
