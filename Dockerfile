# tend's image: build stage compiles the exec helper and the bundle; the runtime stage
# carries only what tend needs at run time (Node, the bundle, the helper, ffi-rs).
#   docker build -t tend:local .
# Use it as a base image: COPY your tend.yaml to /etc/tend/ (or set TEND_CONFIG).
# `docker run --init` and compose `init: true` are unnecessary — tend is the init — and
# harmless: under another init tend registers as child subreaper and works the same.
# More: docs/containers.md (HEALTHCHECK, HTTP probes and metrics, Kubernetes, non-root).

FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
COPY native ./native
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:20-bookworm-slim
WORKDIR /opt/tend
COPY --from=build /src/package.json ./
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/native/build ./native/build
# The bundle has yaml, zod, pino and croner inside; only ffi-rs (a native .node) is external.
COPY --from=build /src/node_modules/ffi-rs ./node_modules/ffi-rs
COPY --from=build /src/node_modules/@yuuang ./node_modules/@yuuang
RUN ln -s /opt/tend/bin/tend.cjs /usr/local/bin/tend && mkdir -p /etc/tend
WORKDIR /etc/tend
HEALTHCHECK --interval=10s --timeout=3s CMD ["tend", "health"]
ENTRYPOINT ["tend"]
