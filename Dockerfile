# Two images from one Dockerfile; docker-compose.yml picks the target for each service.
#   docker build -t loop .                    cpu (the default, last stage): workers and the board
#   docker build --target gpu -t loop:gpu .   the GPU scoring worker: CUDA 12 + cuDNN 9 runtime and
#                                             onnxruntime-node's CUDA execution provider
# Both run `node dist/cli/main.js <command>`: the command picks the role.
# test/docker/dockerfile.test.ts replays the build stage's COPY lines and its tsc into an empty folder.
ARG NODE_IMAGE=node:20-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

# ---- build: dependencies, then the app compiled with tsconfig.build.json (no bench/, no test/)
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# onnxruntime-node's postinstall fetches its CUDA provider from NuGet unless told to skip; the CPU
# image does not want it (the gpu stages fetch it below). package.json's allowScripts skips it on
# npm >= 11.16; the variable covers the older npm some node images ship.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
# --ignore-scripts skips our own `prepare` (tsc over tsconfig.json, which compiles bench/ and the test
# helpers it imports); `npm rebuild` then runs the dependencies' install scripts. This layer is reused
# until the lock file changes.
RUN npm ci --ignore-scripts && npm rebuild
COPY tsconfig.json tsconfig.build.json ./
COPY cli ./cli
COPY queues ./queues
COPY workers ./workers
COPY src ./src
COPY models ./models
RUN ./node_modules/.bin/tsc -p tsconfig.build.json && npm prune --omit=dev

# ---- gpu-deps: the same app with onnxruntime-node's CUDA 12 provider (needs api.nuget.org)
FROM build AS gpu-deps
RUN ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

# ---- gpu: the scoring worker (docker-compose.yml: scoring-worker); node without npm
FROM ${CUDA_IMAGE} AS gpu
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=gpu-deps /app ./
ENV LOOP_OUTPUT_DIR=/data/output LOOP_MODELS_DIR=/models
ENTRYPOINT ["node", "dist/cli/main.js"]

# ---- cpu (default): workers and the board
FROM ${NODE_IMAGE} AS cpu
WORKDIR /app
COPY --from=build /app ./
ENV LOOP_OUTPUT_DIR=/data/output LOOP_MODELS_DIR=/models
ENTRYPOINT ["node", "dist/cli/main.js"]
