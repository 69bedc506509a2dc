#!/usr/bin/env bash
# make docker-test: build the image offline and prove it serves, then prove the compose stack scales.
#
# This machine reaches no image registry, so instead of python:3.11-slim and PyTorch's CPU index:
#   - the base image is Debian bookworm's python3 (3.11), debootstrapped into build/docker and `docker import`ed;
#   - the wheels come from PyPI (pip's cache) into docker/wheelhouse, torch being the local CPU wheel in /opt/wheels.
# Everything else is the real Dockerfile and docker-compose.yml. Containers and the test image are removed at the end;
# the base image and the wheelhouse are kept to make a rerun fast (`make docker-clean` removes them).
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=build/docker
BASE_IMAGE=brainxai-base:bookworm
IMAGE=brainxai:docker-test
BALANCER_IMAGE=brainxai-balancer:docker-test
CONTAINER=brainxai-docker-test
PROJECT=brainxai-docker-test
TORCH_REQUIREMENT=${TORCH_REQUIREMENT:-torch==2.13.0+cpu}
TORCH_WHEELS=${TORCH_WHEELS:-/opt/wheels}
PYTHON=.venv/bin/python
SAMPLE=tests/data/samples/glioma/Tr-gl_0716.jpg
started=$(date +%s)

log() { echo "[docker-test $(($(date +%s) - started))s] $*"; }
fail() { log "FAILED: $*"; exit 1; }

compose() {
    if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}

cleanup() {
    log "removing the test container, the compose project and the test image"
    docker rm -f "$CONTAINER" "$CONTAINER-dimse" >/dev/null 2>&1 || true
    docker volume rm brainxai-docker-test-outbox >/dev/null 2>&1 || true
    BRAINXAI_IMAGE=$IMAGE BRAINXAI_BALANCER_IMAGE=$BALANCER_IMAGE compose -p "$PROJECT" down --remove-orphans \
        >/dev/null 2>&1 || true
    docker image rm -f "$IMAGE" "$BALANCER_IMAGE" >/dev/null 2>&1 || true
}

install_tools() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || missing+=(docker-compose)
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if ! docker info >/dev/null 2>&1; then
        log "starting dockerd"
        mkdir -p "$WORK"
        nohup dockerd >"$WORK/dockerd.log" 2>&1 &
        for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
        docker info >/dev/null 2>&1 || fail "dockerd did not start; see $WORK/dockerd.log"
    fi
}

make_base_image() {
    docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && return
    if [ ! -f "$WORK/rootfs.tar" ]; then
        log "debootstrapping Debian bookworm with python3 into $WORK/rootfs (a few minutes)"
        rm -rf "$WORK/rootfs"
        debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
            bookworm "$WORK/rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log"
        rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
        tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
    fi
    log "importing $BASE_IMAGE"
    docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["python3"]' "$WORK/rootfs.tar" "$BASE_IMAGE" >/dev/null
}

make_wheelhouse() {
    log "filling docker/wheelhouse (torch: $TORCH_REQUIREMENT from $TORCH_WHEELS)"
    "$PYTHON" docker/requirements.py --torch "$TORCH_REQUIREMENT" >"$WORK/requirements.txt"
    if cmp -s "$WORK/requirements.txt" "$WORK/wheelhouse.requirements" 2>/dev/null; then
        log "the wheelhouse already holds these requirements"
        return
    fi
    # pip wheel, not download: lime is published as a source distribution only, so it is built into a wheel here.
    "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --find-links "$TORCH_WHEELS" \
        --wheel-dir docker/wheelhouse -r "$WORK/requirements.txt" "setuptools>=69" >"$WORK/wheelhouse.log" 2>&1 \
        || { tail -20 "$WORK/wheelhouse.log"; fail "could not fill the wheelhouse"; }
    cp "$WORK/requirements.txt" "$WORK/wheelhouse.requirements"
}

wait_ready() {  # url, seconds
    for _ in $(seq "$2"); do
        curl -fsS "$1/readyz" >/dev/null 2>&1 && return 0
        sleep 1
    done
    return 1
}

check_service() {  # base url
    local url=$1
    curl -fsS -F "file=@$SAMPLE" "$url/predict" >"$WORK/predict.json" || fail "/predict at $url"
    "$PYTHON" - "$WORK/predict.json" <<'EOF' || fail "/predict answer"
import json, sys
answer = json.load(open(sys.argv[1]))
scores = answer["probabilities"]
assert sorted(scores) == ["glioma", "meningioma", "notumor", "pituitary"], scores
assert abs(sum(scores.values()) - 1) < 1e-3, scores
assert answer["label"] == max(scores, key=scores.get)
print(f"  /predict: {answer['label']} {scores[answer['label']]:.3f}")
EOF
    local type
    type=$(curl -fsS -o "$WORK/explain.png" -w '%{content_type}' -F "file=@$SAMPLE" "$url/explain?method=gradcam") \
        || fail "/explain at $url"
    [ "$type" = image/png ] || fail "/explain answered $type"
    [ "$(head -c 8 "$WORK/explain.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "/explain is no PNG"
    echo "  /explain?method=gradcam: $(stat -c %s "$WORK/explain.png") bytes of PNG"
    # The int8 forward is quantized in a spawned child at start: it must work in the read-only container too.
    curl -fsS "$url/v1/model" >"$WORK/model.json" || fail "/v1/model at $url"
    "$PYTHON" - "$WORK/model.json" <<'EOF' || fail "LIME and Occlusion are not on the int8 forward"
import json, sys
runtimes = json.load(open(sys.argv[1]))["runtimes"]
assert runtimes["lime"] == runtimes["occlusion"] == "onnxruntime-int8", runtimes
card = json.load(open(sys.argv[1]))
print(f"  runtimes: {runtimes}; int8 check: {card['int8']}; cpu: {card['cpu']}")
EOF
    curl -fsS -o /dev/null -F "file=@$SAMPLE" "$url/explain?method=lime&num_samples=200" || fail "/explain?method=lime"
    echo "  /explain?method=lime: answered"
}

check_dicom_node() {  # the DICOM node from the same image: read-only, its outbox on a volume, results to storescp
    command -v storescu >/dev/null || { echo "  DICOM node: skipped (dcmtk is not installed; make system-deps)"; return; }
    log "running the DICOM node (python -m service.dimse) from $IMAGE, read-only, outbox on a volume"
    local series=$WORK/dimse-series received=$WORK/dimse-received scp ok=
    rm -rf "$series" "$received" && mkdir -p "$series" "$received"
    "$PYTHON" -c 'import sys; sys.path.insert(0, "."); from tests.dicom_series import mr_series
for i, d in enumerate(mr_series("glioma", 8)): d.save_as(f"{sys.argv[1]}/{i:02d}.dcm", enforce_file_format=True)' \
        "$series" || fail "could not write the test series"
    storescp --promiscuous -aet RESULTS -od "$received" 11198 >/dev/null 2>&1 &
    scp=$!
    docker volume create brainxai-docker-test-outbox >/dev/null
    docker run -d --name "$CONTAINER-dimse" --network host --read-only --tmpfs /tmp \
        -v brainxai-docker-test-outbox:/var/lib/brainxai/outbox \
        -e BRAINXAI_DIMSE_PORT=11197 -e BRAINXAI_DIMSE_METRICS_PORT=19112 -e BRAINXAI_HOST=127.0.0.1 \
        -e BRAINXAI_DIMSE_DESTINATION=RESULTS@127.0.0.1:11198 -e BRAINXAI_DIMSE_OUTBOX=/var/lib/brainxai/outbox \
        "$IMAGE" python -m service.dimse >/dev/null
    for _ in $(seq 180); do echoscu -aec BRAINXAI 127.0.0.1 11197 >/dev/null 2>&1 && ok=1 && break; sleep 1; done
    [ -n "$ok" ] || { docker logs "$CONTAINER-dimse" 2>&1 | tail -20; fail "the DICOM node did not answer C-ECHO"; }
    storescu -aec BRAINXAI 127.0.0.1 11197 "$series"/*.dcm || fail "storescu to the DICOM node"
    for _ in $(seq 60); do [ "$(ls "$received" | wc -l)" -ge 4 ] && break; sleep 1; done
    echo "  DICOM node: 8 slices sent; back: $(ls "$received" | cut -c1-3 | sort | uniq -c | xargs)"
    [ "$(ls "$received" | wc -l)" -ge 4 ] || { docker logs "$CONTAINER-dimse" 2>&1 | tail -20; fail "no results back"; }
    docker rm -f "$CONTAINER-dimse" >/dev/null
    docker volume rm brainxai-docker-test-outbox >/dev/null
    kill "$scp"
}

trap cleanup EXIT
mkdir -p "$WORK" docker/wheelhouse
install_tools
make_base_image
make_wheelhouse

log "building $IMAGE (BASE_IMAGE=$BASE_IMAGE, offline pip)"
docker build --quiet -t "$IMAGE" \
    --build-arg BASE_IMAGE="$BASE_IMAGE" \
    --build-arg TORCH_REQUIREMENT="$TORCH_REQUIREMENT" \
    --build-arg PIP_ARGS="--no-index --find-links /wheels" . >/dev/null
size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
log "image size: $((size / 1000000)) MB"
((size <= 1500000000)) || fail "the image is over 1.5 GB"

log "running $IMAGE read-only"
docker run -d --name "$CONTAINER" -p 127.0.0.1::8000 --read-only --tmpfs /tmp "$IMAGE" >/dev/null
port=$(docker port "$CONTAINER" 8000/tcp | head -1 | sed 's/.*://')
wait_ready "http://127.0.0.1:$port" 180 || { docker logs "$CONTAINER" | tail -20; fail "not ready in 180 s"; }
check_service "http://127.0.0.1:$port"
user=$(docker exec "$CONTAINER" id -u)
[ "$user" != 0 ] || fail "the service runs as root"
echo "  runs as uid $user"
for _ in $(seq 60); do
    health=$(docker inspect --format '{{.State.Health.Status}}' "$CONTAINER")
    [ "$health" = healthy ] && break
    sleep 1
done
[ "$health" = healthy ] || fail "HEALTHCHECK says $health"
echo "  HEALTHCHECK: $health"
docker rm -f "$CONTAINER" >/dev/null
check_dicom_node

log "building $BALANCER_IMAGE (Debian's nginx on $BASE_IMAGE)"
docker build --quiet -t "$BALANCER_IMAGE" -f docker/balancer/Dockerfile --build-arg BASE_IMAGE="$BASE_IMAGE" . >/dev/null

log "docker-compose.yml: three API replicas behind the balancer on one port (prometheus and orthanc are left out)"
export BRAINXAI_IMAGE=$IMAGE BRAINXAI_BALANCER_IMAGE=$BALANCER_IMAGE BRAINXAI_PUBLISHED_PORT=18000
compose -p "$PROJECT" up -d --no-build --scale api=3 api balancer >/dev/null
for _ in $(seq 180); do
    [ "$(docker ps --filter "label=com.docker.compose.project=$PROJECT" --filter health=healthy -q | wc -l)" -ge 3 ] && break
    sleep 1
done
wait_ready "http://127.0.0.1:18000" 60 || { compose -p "$PROJECT" logs | tail -20; fail "the balancer is not ready"; }
check_service "http://127.0.0.1:18000"
served=$(for _ in $(seq 30); do
    curl -fsS -o /dev/null -D - -F "file=@$SAMPLE" http://127.0.0.1:18000/predict | tr -d '\r' | sed -n 's/^[Xx]-[Ss]erved-[Bb]y: //p'
done | sort -u)
echo "  30 predictions through one port reached: $(echo $served)"
[ "$(echo "$served" | grep -c .)" -eq 3 ] || fail "the balancer did not reach all three replicas"
log "passed"
