# syntax=docker/dockerfile:1
#
# drain-proxy image: three stages.
#   build      compiles src/ to dist/ with every dependency installed
#   prod-deps  installs the production dependencies only (npm ci --omit=dev)
#   runtime    distroless Node 24: dist/, the production node_modules and
#              package.json, nothing else
#
# Why a distroless runtime: the proxy needs node and nothing else at run time.
# No shell and no package manager means less to patch and nothing for an
# intruder to run. It constrains the pod spec, deliberately: probes are
# httpGet on the admin port (/readyz, /livez), the preStop hook is
# `httpGet /drain?wait=1` on the admin port or `preStop.sleep`, never `exec`.
# npm is not in that image, which is why the production install happens in
# prod-deps and is copied over.
#
# Built with `npm run image` (buildah; docs/image.md) and run for real by
# test/integration/image.test.ts. test/integration/package.test.ts also
# replays the prod-deps and runtime steps without a container engine and
# checks this file's shape, so keep the two in step.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the only install script is the `node` devDependency's,
# which would download a second Node binary that pins the developers' Node;
# this image already is Node 24 and tsc runs on it.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no production dependency needs an install script, and
# none gets to run code at build time.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# Debian 12, like the bookworm build stages, so anything native built there runs here.
FROM gcr.io/distroless/nodejs24-debian12:nonroot AS runtime
WORKDIR /app
ENV NODE_ENV=production
# glibc gives each thread that allocates an arena of its own (up to 8 per CPU) and
# keeps what is freed in them: under a long mixed load that retained memory grew
# RSS by 13% with live memory flat (docs/reliability.md). Almost all of the proxy's
# allocations are on its main thread; V8's helper threads (concurrent compiling)
# in a second arena kept 1.5 MB more after 10 s of load, for no CPU measured back
# (docs/benchmarks.md, memory): one arena.
ENV MALLOC_ARENA_MAX=1
# package.json carries "type": "module", which dist/*.js needs.
COPY --from=prod-deps /app/package.json ./package.json
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Numeric, not "nonroot": the kubelet can verify runAsNonRoot only for a numeric user.
USER 65532:65532
# 8000: the public port the Service targets; 9901: admin (probes, /metrics, /drain).
EXPOSE 8000 9901
# The proxy drains on SIGTERM. It runs as PID 1 without an init: it installs
# its own SIGTERM/SIGINT handlers and starts no child processes to reap.
STOPSIGNAL SIGTERM
# Distroless has node at /nodejs/bin/node and no PATH lookup through a shell.
ENTRYPOINT ["/nodejs/bin/node"]
CMD ["dist/main.js"]
