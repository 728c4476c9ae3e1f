/**
 * A manifest `inject` or `uninject` cannot handle as asked. The message says
 * what is wrong and what to change, in one line; the command prefixes it with
 * the workload it concerns.
 */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}
