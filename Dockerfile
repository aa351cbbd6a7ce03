# promedic: host exporter, Alertmanager webhook receiver and playbook runner.
# The same image also runs the demo app (examples/demo-app), see docker-compose.yml:
#   docker build -t promedic .
#   docker run -p 9477:9477 -e PROMEDIC_TOKEN=<16+ characters> promedic
#   docker run -p 8080:8080 -e DEMO_ADMIN_TOKEN=... promedic node dist/examples/demo-app/src/main.js --host 0.0.0.0
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: TypeScript -> dist/ ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first, so a source change does not reinstall them. --ignore-scripts: package.json's
# "prepare" runs the build, which cannot work before the sources are copied in (it runs below).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

# ---- runtime: production dependencies, compiled code, rules and schemas ----
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# --ignore-scripts again: "prepare" would run tsc, which --omit=dev does not install.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY schema ./schema
COPY rules ./rules
# The defaults (./data, ./rules) work from /app; /var/lib/promedic is the data dir of
# deploy/promedic/promedic.yml. Both belong to the unprivileged user, and a named volume
# mounted on an empty image directory takes over its owner.
RUN mkdir -p /app/data /var/lib/promedic && chown node:node /app/data /var/lib/promedic
USER node
EXPOSE 9477
# No curl or wget in the slim image: node asks /-/healthy itself (200 while the process runs).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "require('http').get({host:'127.0.0.1',port:process.env.PROMEDIC_PORT||9477,path:'/-/healthy',timeout:4000},r=>process.exit(r.statusCode===200?0:1)).on('timeout',()=>process.exit(1)).on('error',()=>process.exit(1))"]
# CMD rather than ENTRYPOINT, so that `command:` (compose) or `docker run IMAGE node ...` can run
# the demo app or `promedic check` from the same image. Configure with PROMEDIC_* variables or
# PROMEDIC_CONFIG=/path/to/promedic.yml.
CMD ["node", "--max-semi-space-size=4", "dist/src/cli/index.js", "start"]
