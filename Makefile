# zonelab — a thin driver over CMake. `make test` and `make demo` work on a fresh Debian.
SANITIZE ?= 0
NATIVE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-sanitize
CMAKE_TYPE ?= RelWithDebInfo
else
BUILD ?= build
CMAKE_TYPE ?= Release
endif
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DEB_PACKAGES = liblua5.4-dev lua5.4 libopenblas-dev libcjson-dev libhpdf-dev libutf8proc-dev \
  libreadline-dev lua-argparse lua-filesystem lua-busted cmake pkg-config poppler-utils gcc make \
  libopenmpi-dev openmpi-bin libdnnl-dev fonts-dejavu-core fonts-wqy-microhei tmux
# Optional: a real one-node Slurm for tests/cli/slurm.sh, and chromium (with node and npm
# when there is no npm yet) for tests/cli/flows_html.sh (reported as skipped without them);
# installed when root, a failed install is a note, not an error.
DEB_OPTIONAL = slurm-wlm munge chromium $(if $(shell command -v npm 2>/dev/null),,nodejs npm)

.PHONY: build deps test demo demo-zh bench bench-peer clean configure fuzz fuzz-lua readme-figure

build: configure
	cmake --build $(BUILD) -j$(JOBS)

configure:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(CMAKE_TYPE) \
	  -DZL_SANITIZE=$(if $(filter 1,$(SANITIZE)),ON,OFF) \
	  -DZL_NATIVE=$(if $(filter 1,$(NATIVE)),ON,OFF) > $(BUILD).configure.log 2>&1 \
	  || { cat $(BUILD).configure.log; exit 1; }

# Installs the Debian packages that are missing (as root), or says the exact command.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "deps: missing:$$missing"; echo "run: sudo apt-get install -y$$missing"; exit 1; fi; \
	echo "deps: installing$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing
	@missing=""; for p in $(DEB_OPTIONAL); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "deps: optional, missing:$$missing (tests needing them are skipped); run: sudo apt-get install -y$$missing"; exit 0; fi; \
	echo "deps: installing optional$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -y -qq --no-install-recommends $$missing > /dev/null 2>&1 \
	  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; } \
	  || echo "deps: optional$$missing could not be installed (tests needing them are skipped)"

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 900

demo: deps build
	$(BUILD)/zonelab recipes/protocol.lua

# The same in Chinese: a CMRC 2018-style synthetic corpus, scored with the CMRC metric.
demo-zh: deps build
	$(BUILD)/zonelab recipes/protocol.lua --preset demo-zh --out runs/demo-zh

# The README's figures: the demos' mean heatmaps (EM and F1 panels) as PNGs (demo-zh's when it ran).
readme-figure:
	@if [ ! -f runs/demo/figures/heatmap_mean.pdf ]; then \
	  echo "zonelab: error: runs/demo/figures/heatmap_mean.pdf: missing; run make demo first"; exit 1; fi
	pdftoppm -png -r 110 -singlefile runs/demo/figures/heatmap_mean.pdf docs/demo_heatmap
	@if [ -f runs/demo-zh/figures/heatmap_mean.pdf ]; then \
	  pdftoppm -png -r 110 -singlefile runs/demo-zh/figures/heatmap_mean.pdf docs/demo_zh_heatmap; \
	else echo "readme-figure: runs/demo-zh absent (make demo-zh): docs/demo_zh_heatmap.png kept"; fi

bench: deps build
	@for b in tests/bench/*.lua; do $(BUILD)/zonelab $$b $(BENCH_ARGS) || exit 1; done

# zonelab against PyTorch (Debian's python3-torch, installed when missing and root) on the
# same shapes and thread count: JSON lines with zonelab/PyTorch ratios.
PEER_PYTHON ?= /usr/bin/python3
bench-peer: deps build
	@dpkg-query -W -f='$${Status}' python3-torch 2>/dev/null | grep -q "install ok installed" || { \
	  if [ "$$(id -u)" != 0 ]; then echo "bench-peer: run: sudo apt-get install -y python3-torch"; exit 1; fi; \
	  echo "bench-peer: installing python3-torch (large)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch || exit 1; }
	$(PEER_PYTHON) tests/bench/torch_peer.py --zonelab $(BUILD)/zonelab $(BENCH_ARGS)

# libFuzzer over every parser target in tests/fuzz, FUZZ_SECONDS each, seeded from
# tests/fuzz/corpus/<target>; crashes are written to build-fuzz/crashes/.
FUZZ_SECONDS ?= 60
fuzz: deps
	@command -v clang >/dev/null || { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang; } \
	  || { echo "fuzz: run: sudo apt-get install -y clang"; exit 1; }
	@CC=clang cmake -S . -B build-fuzz -DZL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo > build-fuzz.configure.log 2>&1 \
	  || { cat build-fuzz.configure.log; exit 1; }
	cmake --build build-fuzz -j$(JOBS) --target fuzzers
	@mkdir -p build-fuzz/crashes; status=0; \
	for f in build-fuzz/fuzz_*; do n=$${f##*/fuzz_}; \
	  mkdir -p build-fuzz/corpus/$$n; cp -n tests/fuzz/corpus/$$n/* build-fuzz/corpus/$$n/ 2>/dev/null; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  ASAN_OPTIONS=detect_leaks=1 $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	    -artifact_prefix=build-fuzz/crashes/$$n- -print_final_stats=0 build-fuzz/corpus/$$n \
	    > build-fuzz/$$n.log 2>&1 || { status=1; tail -30 build-fuzz/$$n.log; }; \
	  grep -E "^#[0-9]+.*DONE|^Done" build-fuzz/$$n.log | tail -1; \
	done; exit $$status

# The Lua API fuzzer (tests/fuzz/lua_api.lua) under ASan+UBSan: its seeds and regressions,
# then LUA_FUZZ_SEQUENCES random sequences of seed LUA_FUZZ_SEED (the default is CI's
# budget: about 2 minutes, docs/reliability.md). A sequence that trips a
# sanitizer is left in build-sanitize/lua_fuzz/current.lua: copy it into
# tests/fuzz/lua_regressions/ to keep it as a regression (docs/reliability.md).
LUA_FUZZ_SEQUENCES ?= 60000
LUA_FUZZ_SEED ?= 1
fuzz-lua: deps
	@$(MAKE) --no-print-directory build SANITIZE=1
	@mkdir -p build-sanitize/lua_fuzz
	@ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=256 ZONELAB_SOURCE=$(CURDIR) \
	  build-sanitize/zonelab tests/fuzz/lua_api.lua --sequences $(LUA_FUZZ_SEQUENCES) \
	  --seed $(LUA_FUZZ_SEED) --out build-sanitize/lua_fuzz || { \
	  echo "fuzz-lua: the failing sequence is build-sanitize/lua_fuzz/current.lua (replay:"; \
	  echo "  build-sanitize/zonelab tests/fuzz/lua_api.lua --replay build-sanitize/lua_fuzz/current.lua)"; \
	  exit 1; }

clean:
	rm -rf build build-sanitize build-fuzz build.configure.log build-sanitize.configure.log build-fuzz.configure.log
