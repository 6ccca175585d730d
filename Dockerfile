# `mlcycle serve` as an OCI image: the locked dependencies, a package baked in (or one
# mounted at /mnt/models, as KServe's storage initializer does), a non-root user, health
# checks on the Open Inference Protocol's endpoints.
#
#   dvc repro   # or: dvc artifacts get . keywords --stage prod -o models/package
#   docker build -t mlcycle-serve .
#   docker run -p 8080:8080 mlcycle-serve
#   docker run -p 8080:8080 -v $PWD/other:/mnt/models:ro mlcycle-serve   # another package
#
# Not built on the development machine (it has no container runtime); tests/test_deploy.py
# checks what can be checked without one. deploy/kserve/ runs it on KServe.

FROM python:3.11-slim AS build
# a compiler for the wheels built at install (ttspico); torch from its CPU index
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir 'uv>=0.5'
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY src ./src
RUN uv venv /opt/venv \
    && uv pip sync --python /opt/venv/bin/python --index-strategy unsafe-best-match \
       --extra-index-url https://download.pytorch.org/whl/cpu requirements.lock \
    && uv pip install --python /opt/venv/bin/python --no-deps .

FROM python:3.11-slim
COPY --from=build /opt/venv /opt/venv
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin mlcycle \
    && mkdir -p /var/lib/mlcycle /mnt/models && chown 10001 /var/lib/mlcycle
WORKDIR /app
# the configuration mlcycle serve reads (params.yaml) and the package it serves by default
COPY params.yaml ./
COPY models/package /mnt/models
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/v2/health/ready', timeout=2).status != 200)"]
ENTRYPOINT ["mlcycle", "serve", "--host", "0.0.0.0", "--port", "8080"]
# what it writes goes to /var/lib/mlcycle (the only writable folder it needs)
CMD ["--package", "/mnt/models", "paths.rollout=/var/lib/mlcycle/rollout.json", "paths.prediction_log=/var/lib/mlcycle/predictions.db", "paths.logged_inputs=/var/lib/mlcycle/inputs", "paths.log_outages=/var/lib/mlcycle/log_outages.json"]
