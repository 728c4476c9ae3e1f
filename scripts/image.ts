/**
 * `npm run image`: builds the Dockerfile into localhost/drain-proxy:dev with
 * buildah, base images included where no registry serves them
 * (docs/image.md).
 */
import { runMain } from '../harness/cli.ts';
import { buildImage, containerEngineUnavailable, IMAGE } from './image/build.ts';

runMain('image build', async () => {
  const unavailable = containerEngineUnavailable();
  if (unavailable !== undefined) {
    console.error(`npm run image: ${unavailable}`);
    return 1;
  }
  const image = await buildImage((line) => console.log(line));
  for (const base of image.bases) console.log(`base ${base.name}: ${base.origin} (${base.seconds.toFixed(1)} s)`);
  console.log(
    `${IMAGE} (image ${image.id.slice(0, 12)}): ${(image.sizeBytes / 1e6).toFixed(0)} MB; ` +
    `Dockerfile built in ${image.dockerfileSeconds.toFixed(1)} s, ${image.totalSeconds.toFixed(1)} s in all`,
  );
  return 0;
});
