# The two commands of the README: `make run` and `make test`. Each creates .venv when needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install run test reproduce lint format clean system-deps docker-test docker-clean bench soak figures fuzz-dicom architecture

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[training,dev,bench,analyze,bundle]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

run: install
	$(BIN)/python -m service

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Debian packages the tests use: chromium (the viewer's browser test), orthanc + orthanc-dicomweb (the PACS
# bridge's round trip and the DICOM node's PACS peer), dcmtk (echoscu/storescu/storescp: the DICOM node's peers),
# dicom3tools (dciodvfy: the conformance check of every DICOM object made). Installed when missing and running as root (as CI does), and a failed install stops
# `make test` there, so that CI never passes by skipping them; without root those tests skip, and say why.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	[ -x /usr/sbin/Orthanc ] || missing="$$missing orthanc"; \
	[ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || missing="$$missing orthanc-dicomweb"; \
	command -v storescp >/dev/null 2>&1 || missing="$$missing dcmtk"; \
	command -v dciodvfy >/dev/null 2>&1 || missing="$$missing dicom3tools"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) || \
	      { echo "could not install$$missing (as root): stopping, the tests that need them would be skipped"; exit 1; }; \
	  else echo "not root: cannot install$$missing; the tests that need them will be skipped"; fi; \
	fi

# The suite must leave a checkout as it found it (caches and tool state are ignored): git status before and after.
test: lint system-deps
	@mkdir -p .tmp; git status --porcelain --untracked-files=all > .tmp/status-before 2>/dev/null || true
	$(BIN)/python -m pytest
	@git status --porcelain --untracked-files=all > .tmp/status-after 2>/dev/null || true
	@cmp -s .tmp/status-before .tmp/status-after || \
	  { echo "make test changed the checkout (git status before < and after >):"; \
	    diff .tmp/status-before .tmp/status-after; exit 1; }

# docs/ARCHITECTURE.md's picture, drawn again from the imports (a test fails when it is stale).
architecture: install
	$(BIN)/python bench/architecture.py

# The shipped model's recipe reproduces its split and its first epoch (one epoch of its fit: minutes on 2 cores).
reproduce: install
	$(BIN)/python -m pytest -m reproduce

# The DICOM fuzz corpus at its full size (2,000 seeded combinations, about 2,700 variants; the suite runs 1,000):
# decoding, every result object, HTTP and dciodvfy, as tests/service/test_dicom_fuzz.py does (docs/DICOM.md).
fuzz-dicom: install
	BRAINXAI_FUZZ_COMBINATIONS=2000 $(BIN)/python -m pytest -q tests/service/test_dicom_fuzz.py tests/http/test_dicom_fuzz_http.py

# The benchmark (docs/BENCHMARKS.md); BENCH_ARGS=--quick for a run under 2 minutes. Needs wrk (installed as root).
bench: install
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

# The README's pictures of the service (docs/images/viewer.png, explain-gradcam.png) from the shipped model as served,
# the viewer in headless Chromium (make system-deps installs it).
figures: install
	$(BIN)/python bench/figures.py

# The soak (bench/soak.py): mixed traffic for ~10 minutes against the service on loopback, default settings; fails on
# a 5xx other than 503 or RSS growth over 5 %. SOAK_ARGS="--minutes 2" for a short one.
soak: install
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

# Build the image offline (Debian base, local wheels), serve from it, scale it with compose; see docs/DOCKER.md.
docker-test: install
	docker/docker-test.sh

docker-clean:
	-docker image rm -f brainxai-base:bookworm
	rm -rf build/docker docker/wheelhouse/*.whl

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
