# vision_plugins: `make demo` and `make test` set up .venv themselves (idempotent).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PIP_INSTALL := $(PIP) install --disable-pip-version-check -c requirements/constraints.txt
STAMP := $(VENV)/.vp-setup-done
SETUP_INPUTS := setup.py requirements/runtime.txt requirements/dev.txt requirements/constraints.txt \
	vision_plugins/compat/install_detectron2.py vision_plugins/compat/d2_C_standin.py
DEMO_OUT ?= output/demo
DEMO_CONFIG := configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml
export OMP_NUM_THREADS ?= 2

.PHONY: setup demo test test-all bench lint format clean

setup: $(STAMP)

$(STAMP): $(SETUP_INPUTS)
	@start=$$(date +%s); \
	test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	$(PIP_INSTALL) -q "setuptools<81" wheel && \
	$(PIP_INSTALL) -q torch==2.14.1 torchvision==0.29.1 && \
	$(PIP_INSTALL) -q -r requirements/runtime.txt -r requirements/dev.txt && \
	$(PIP_INSTALL) -q --no-deps panopticapi-lite==0.2.0 && \
	$(PY) vision_plugins/compat/install_detectron2.py && \
	$(PIP_INSTALL) -q --no-deps --no-build-isolation -e . && \
	$(PY) -c "import detectron2, vision_plugins; print('setup ok: detectron2', detectron2.__version__, '| vision_plugins', vision_plugins.__version__)" && \
	touch $(STAMP) && echo "make setup: $$(( $$(date +%s) - start )) s"

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

lint: setup
	$(PY) -m black --check vision_plugins tools tests setup.py
	$(PY) -m isort --check-only vision_plugins tools tests setup.py
	$(PY) -m flake8 vision_plugins tools tests setup.py

format: setup
	$(PY) -m black vision_plugins tools tests setup.py
	$(PY) -m isort vision_plugins tools tests setup.py

clean:
	rm -rf $(VENV) output build *.egg-info
