# One image for every role (worker, scoring worker, board); the command picks the role.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY tsconfig.json ./
COPY cli ./cli
COPY queues ./queues
COPY workers ./workers
COPY src ./src
COPY models ./models
COPY bench ./bench
RUN npm ci && npm prune --omit=dev
ENV LOOP_OUTPUT_DIR=/data/output LOOP_MODELS_DIR=/models
ENTRYPOINT ["node", "dist/cli/main.js"]
