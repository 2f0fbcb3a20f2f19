# Market data storage service: build with `docker build -t market-data-storage .`
# or through `docker compose up` (docker-compose.yml).

# 1. Build: every dependency (the Nest CLI and TypeScript are dev ones), then dist/.
FROM node:20-slim AS build
# swagger-ui-dist's install script would otherwise report to its vendor.
ENV SCARF_ANALYTICS=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
RUN npm run build

# 2. Runtime dependencies only.
FROM node:20-slim AS deps
ENV SCARF_ANALYTICS=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# 3. The image: production node_modules, dist/, migrations/ (run at start) and
#    package.json (the version health reports).
FROM node:20-slim
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0 \
    DATA_DIR=/app/data
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node migrations ./migrations
COPY --chown=node:node package.json ./
# Embedded mode (no DATABASE_URL) keeps its data here; mount a volume to keep it.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
# Ready = the database answers (docker-compose.yml waits on it). node:20-slim has no
# curl; Node's own fetch asks the probe on the configured PORT.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains: no new requests, in-flight ones finish, connections close.
STOPSIGNAL SIGTERM
CMD ["node", "--max-semi-space-size=64", "dist/main.js"]
