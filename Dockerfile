# tend's image. The build stage compiles the native parts (the launcher, the exec helper,
# libtend) and the bundles, then packages them (`npm run package`): one relocatable
# directory, /opt/tend, with its own Node runtime.
#   docker build --target dist -t tend:dist .   only /opt/tend, to add tend to any image:
#       FROM tend:dist AS tend
#       FROM python:3.12-slim                    (debian, ubuntu, php, ... any glibc image)
#       COPY --from=tend /opt/tend /opt/tend
#       ENTRYPOINT ["/opt/tend/bin/tend"]
#   docker build -t tend:local .                a base image with tend as its ENTRYPOINT
# Use the base image by COPYing your tend.yaml to /etc/tend/ (or set TEND_CONFIG).
# `docker run --init` and compose `init: true` are unnecessary — tend is the init — and
# harmless: under another init tend registers as child subreaper and works the same.
# More: docs/containers.md (the recipe, HEALTHCHECK, HTTP probes and metrics, Kubernetes,
# non-root, read-only root).

FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev binutils \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
COPY native ./native
RUN npm ci --no-audit --no-fund
COPY . .
# The start-up snapshot is made where tend will run, by the Node it will run (README: how
# tend starts); the package holds none. Without it tend starts as it would, only slower.
RUN npm run build \
 && node scripts/package.mjs --no-build \
 && tar -xzf out/tend-*-linux-*.tar.gz -C /opt \
 && /opt/tend/runtime/node /opt/tend/scripts/snapshot.mjs /opt/tend

# Only tend: the directory `npm run package` makes, nothing else.
FROM scratch AS dist
COPY --from=build /opt/tend /opt/tend

# The base image (the last stage, what `docker build .` gives): Node stays in it for
# services written for Node; tend runs on its own runtime in /opt/tend either way.
FROM node:20-bookworm-slim
COPY --from=dist /opt/tend /opt/tend
RUN ln -s /opt/tend/bin/tend /usr/local/bin/tend && mkdir -p /etc/tend
WORKDIR /etc/tend
HEALTHCHECK --interval=10s --timeout=3s CMD ["tend", "health"]
ENTRYPOINT ["tend"]
