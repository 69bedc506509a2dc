# brainxai inference service: CPU-only torch, the shipped model, a non-root user.
#
# Real world:  docker build -t brainxai .      (python:3.11-slim, torch from PyTorch's CPU wheel index)
# Offline:     docker build --build-arg BASE_IMAGE=<local python 3.11 image> \
#                --build-arg PIP_ARGS="--no-index --find-links /wheels" --build-arg TORCH_REQUIREMENT="torch==2.13.0" .
#              with the wheels in docker/wheelhouse/ (what `make docker-test` does; see docs/DOCKER.md).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG TORCH_REQUIREMENT="torch==2.14.1"
ARG PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY docker/wheelhouse/ /wheels/
COPY docker/requirements.py pyproject.toml README.md ./
RUN python3 requirements.py --pyproject pyproject.toml --torch "${TORCH_REQUIREMENT}" > requirements.txt \
 && python3 -m venv /opt/brainxai \
 && /opt/brainxai/bin/pip install ${PIP_ARGS} -r requirements.txt
COPY mlcore/ mlcore/
COPY service/ service/
# The brainxai command (brainxai analyze, the Indexed Job in deploy/kubernetes/jobs/; export-bundle).
COPY brainxai/ brainxai/
# Then drop what the service never loads: torch's C++ headers, CMake files, test binaries and tests, and the
# test suites inside scientific packages (about 200 MB).
RUN /opt/brainxai/bin/pip install ${PIP_ARGS} --no-deps . \
 && cd /opt/brainxai/lib/python3.11/site-packages \
 && rm -rf torch/include torch/share/cmake torch/test \
 && find torch/bin -type f ! -name torch_shm_manager -delete \
 && find scipy sklearn skimage numpy matplotlib pandas -depth -type d -name tests -prune -exec rm -rf {} + 2>/dev/null; \
    /opt/brainxai/bin/python -c "import service.http.app, mlcore.explainers, lime.lime_image, captum.attr, brainxai.analyze"

FROM ${BASE_IMAGE}
RUN (getent group brainxai || groupadd --system --gid 10001 brainxai) \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin brainxai
COPY --from=build /opt/brainxai /opt/brainxai
COPY models/brainxai-cnn.pt /opt/brainxai-models/brainxai-cnn.pt
# The DICOM node's outbox (a volume in compose): owned by the service user, so that a new volume is writable.
RUN mkdir -p /var/lib/brainxai/outbox && chown -R 10001:10001 /var/lib/brainxai
ENV PATH=/opt/brainxai/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BRAINXAI_MODEL_PATH=/opt/brainxai-models/brainxai-cnn.pt \
    BRAINXAI_HOST=0.0.0.0 \
    BRAINXAI_PORT=8000
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
CMD ["python", "-m", "service"]
