# One image for every role (worker, scoring worker, board); the command picks the role.
FROM node:20-bookworm-slim
WORKDIR /app
# No .npmrc here: on this image onnxruntime-node's install script may fetch its CUDA provider,
# which the GPU scoring worker needs (the repository's .npmrc skips it for offline machines).
COPY package.json package-lock.json ./
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
