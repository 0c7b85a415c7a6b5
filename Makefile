# vision_plugins: `make demo` and `make test` set up .venv themselves (idempotent).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PIP_INSTALL := $(PIP) install --disable-pip-version-check -c requirements/constraints.txt
STAMP := $(VENV)/.vp-setup-done
SETUP_INPUTS := setup.py pyproject.toml requirements/lock.txt requirements/no-deps.txt \
	requirements/constraints.txt requirements/detectron2.txt requirements/detectron2-wheel.txt \
	vision_plugins/compat/install_detectron2.py vision_plugins/compat/d2_C_standin.py
PIP_TOOLS := pip-tools==7.7.0
LOCK_ARGS ?=
LOCK_COMMAND := make lock  ($(PIP_TOOLS) in build/lock-venv: pip-compile --generate-hashes \
	--allow-unsafe --strip-extras requirements/lock.in; make lock LOCK_ARGS=--upgrade moves \
	every pin; make setup installs this file with plain pip --require-hashes)
DEMO_OUT ?= output/demo
DEMO_CONFIG := configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml
export OMP_NUM_THREADS ?= 2

.PHONY: setup lock demo test test-all bench bench-official lint format clean

# The exact versions of requirements/lock.txt (every file's sha256 checked), panopticapi-lite
# without its stale requirements, detectron2 as a distribution (install_detectron2.py), then
# vision_plugins in editable mode. opencv-python (the GUI build, installed before 0.2.0) is
# removed first: it and the lock's opencv-python-headless would overwrite each other's cv2 files.
setup: $(STAMP)

$(STAMP): $(SETUP_INPUTS)
	@start=$$(date +%s); \
	test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	if $(PIP) show -q opencv-python >/dev/null 2>&1; then \
		$(PIP) uninstall -y -q opencv-python opencv-python-headless; fi; \
	$(PIP_INSTALL) -q --require-hashes -r requirements/lock.txt && \
	$(PIP_INSTALL) -q --require-hashes --no-deps -r requirements/no-deps.txt && \
	$(PY) vision_plugins/compat/install_detectron2.py && \
	$(PIP_INSTALL) -q --no-deps --no-build-isolation -e . && \
	$(PY) -c "import detectron2, vision_plugins; print('setup ok: detectron2', detectron2.__version__, '| vision_plugins', vision_plugins.__version__)" && \
	touch $(STAMP) && echo "make setup: $$(( $$(date +%s) - start )) s"

# Regenerate requirements/lock.txt from requirements/lock.in with pip-tools (in a throwaway venv;
# needs the package index). Existing pins are kept where they still fit; `make lock
# LOCK_ARGS=--upgrade` moves every pin to the newest allowed release. `make setup` installs the
# result with plain pip.
lock:
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv && \
	build/lock-venv/bin/pip install -q "$(PIP_TOOLS)" && \
	CUSTOM_COMPILE_COMMAND="$(LOCK_COMMAND)" build/lock-venv/bin/pip-compile -q --generate-hashes \
		--allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS) \
		-o requirements/lock.txt requirements/lock.in

# Train the small Mask R-CNN on vp_shapes (2 CPU cores), print the COCO AP table on vp_shapes_val,
# then draw predictions on 4 val images into $(DEMO_OUT)/vis/*.png.
demo: setup
	@start=$$(date +%s); \
	$(PY) tools/train_net.py --config-file $(DEMO_CONFIG) OUTPUT_DIR $(DEMO_OUT) && \
	$(PY) tools/demo.py --config-file $(DEMO_CONFIG) --dataset vp_shapes_val --num-images 4 \
		--output $(DEMO_OUT)/vis MODEL.WEIGHTS $(DEMO_OUT)/model_final.pth && \
	echo "make demo: $$(( $$(date +%s) - start )) s (after set-up); visualisations in $(DEMO_OUT)/vis"

test: setup
	$(PY) -m pytest -q --durations=15

test-all: setup
	$(PY) -m pytest -q -m "slow or not slow" --durations=25

# Benchmark the demo model (trained weights if `make demo` ran, else random initialisation).
BENCH_WEIGHTS ?= $(wildcard $(DEMO_OUT)/model_final.pth)
bench: setup
	$(PY) tools/benchmark.py --config-file $(DEMO_CONFIG) --input-size 128 --threads 2 \
		$(if $(BENCH_WEIGHTS),--weights $(BENCH_WEIGHTS)) \
		--output output/bench/mask_rcnn_R_18_FPN_synth_shapes.json

# Issue #25's ratio table: five models per backend vs their official code (VP_OFFICIAL_* name the
# checkouts; README "CPU latency per backend vs the official code"), e.g.
# make bench-official BENCH_ARGS="--weights fixture --only retinaface shg"
BENCH_ARGS ?=
bench-official: setup
	$(PY) tools/bench_official.py $(BENCH_ARGS)

lint: setup
	$(PY) -m black --check vision_plugins tools tests setup.py
	$(PY) -m isort --check-only vision_plugins tools tests setup.py
	$(PY) -m flake8 vision_plugins tools tests setup.py

format: setup
	$(PY) -m black vision_plugins tools tests setup.py
	$(PY) -m isort vision_plugins tools tests setup.py

clean:
	rm -rf $(VENV) output build *.egg-info
