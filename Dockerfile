# Lattice, an etcd v3-compatible key-value server, as a container image.
#
#   docker build -t lattice .
#   docker run -d --name lattice -p 2379:2379 -v lattice-data:/var/lib/lattice lattice
#   etcdctl --endpoints http://127.0.0.1:2379 put foo bar
#
# Arguments after the image name replace the default flags below (etcd's flags; see docs/deployment.md).

# --- build: compile TypeScript with the dev dependencies, then keep only the runtime ones ---
FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# npm ci runs the `prepare` script (tsc), so the sources must be there first.
COPY . .
RUN npm ci && npm run build && npm prune --omit=dev

# --- runtime ---
FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /opt/lattice
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist/src ./dist/src
# A dedicated unprivileged user owns the data dir; the server needs no other write access.
RUN groupadd --system --gid 10001 lattice \
 && useradd --system --uid 10001 --gid lattice --home-dir /var/lib/lattice --shell /usr/sbin/nologin lattice \
 && mkdir -p /var/lib/lattice \
 && chown lattice:lattice /var/lib/lattice
USER lattice
VOLUME /var/lib/lattice
# 2379: clients (gRPC, the JSON gateway, /api, /health); 2380: peers
EXPOSE 2379 2380
# node runs as PID 1; Lattice installs its own SIGTERM/SIGINT handlers (PID 1 would otherwise ignore
# them), so `docker stop` finishes in-flight writes, flushes the engine and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/opt/lattice/bin/lattice.js"]
CMD ["--name", "default", "--data-dir", "/var/lib/lattice", \
     "--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", "http://127.0.0.1:2379", \
     "--listen-peer-urls", "http://0.0.0.0:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380", \
     "--initial-cluster", "default=http://127.0.0.1:2380"]
