# The bridge's image: the API (default command) and, with another command, the worker or the CLI.
#   docker build -t ictvoip-bridge .
#   docker run ... ictvoip-bridge                                   # API on :3000 (migrates at start)
#   docker run ... ictvoip-bridge node --max-old-space-size=96 apps/worker/dist/main.js     # a worker (heap cap: README "Memory")
#   docker run ... ictvoip-bridge node apps/cli/dist/main.js --help # the operator CLI
# Install scripts are not needed: the native parts (@swc/core for the build) come as prebuilt packages.

# Build once: every dependency, TypeScript compiled to each workspace's dist/; then production
# dependencies only, installed afresh (from npm's cache of the first install).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY . .
RUN npm ci --no-audit --no-fund --ignore-scripts \
 && npm run build \
 && rm -rf node_modules apps/*/node_modules packages/*/node_modules \
 && npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
 && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
# Not root. FUSIONPBX_CACHE_METHOD=file on a mounted cache folder needs that folder's owner (compose `user:`).
USER node
EXPOSE 3000
CMD ["node", "apps/api/dist/main.js"]
