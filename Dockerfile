# Keel's one image for every process: the API (default), the workers and the migration job.
#   docker build -t keel .
#   docker run keel                                          # API:    node --import tsx api/main.ts
#   docker run keel node --import tsx workers/main.ts        # worker (KEEL_WORKERS picks the queues)
#   docker run keel npm run db:migrate                       # one-shot migration job
# TypeScript runs through tsx (a runtime dependency), as in development; there is no build step.

# ---- dependencies and the generated Prisma client --------------------------------------------
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts are skipped on purpose: the one we need (prisma generate) runs explicitly below,
# once the schema is in the image; nothing else at run time needs one.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY prisma ./prisma
COPY prisma.config.ts ./
COPY scripts/prisma-generate.js ./scripts/
# Emits generated/prisma (TypeScript, CommonJS); works offline, no Prisma engine is downloaded.
RUN node scripts/prisma-generate.js \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime ---------------------------------------------------------------------------------
FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /app/generated ./generated
COPY . .
# Run as the unprivileged user the base image provides; the app writes nothing to its own tree.
USER node
EXPOSE 3000
# One Node process per container (no tsx CLI relay process), so SIGTERM from the orchestrator
# reaches the app directly: the API stops accepting and drains, the worker finishes in-flight tasks.
CMD ["node", "--import", "tsx", "api/main.ts"]
