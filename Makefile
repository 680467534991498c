# The front door. The real build is autotools, out of tree in build/, so that this file never
# collides with generated ones.
#   make run    install missing build deps, build, run wsgate on conf/wsgate.ini
#   make test   install missing build and test deps, build, run every test
#   make sanitize  build with ASan+UBSan in build-asan and run every test; any report fails
#   make fuzz   build the libFuzzer targets with clang and run each for FUZZ_SECONDS (default 60)
#   make bench  install missing build deps and the peers (nginx, HAProxy, lighttpd), build wsgate
#               and bench/wsbench, run bench/run: wsgate beside the peers, results in
#               bench/RESULTS.md (BENCH_SECONDS, BENCH_RUNS)
#   make distcheck  make the tarball in build/, then build and test it from a read-only copy
BUILD := build
SAN_BUILD := build-asan
SAN_REPORTS := $(abspath $(SAN_BUILD))/reports
FUZZ_BUILD := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := handshake frame utf8 config relay base64 hybi00 proxy_protocol uri_path
CONFIGURE_FLAGS ?=
JOBS := $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps test-deps fuzz-deps bench-deps run test check sanitize fuzz bench distcheck \
	install uninstall clean distclean

all: $(BUILD)/Makefile
	$(MAKE) -C $(BUILD) -j$(JOBS)

deps:
	tools/install-deps

test-deps:
	tools/install-deps --test

fuzz-deps:
	tools/install-deps --fuzz

bench-deps:
	tools/install-deps --bench

configure: configure.ac Makefile.am
	autoreconf -fi

$(BUILD)/Makefile: configure
	mkdir -p $(BUILD)
	cd $(BUILD) && ../configure $(CONFIGURE_FLAGS)

run: deps
	$(MAKE) all
	$(BUILD)/wsgate -c conf/wsgate.ini

test: test-deps
	$(MAKE) all
	$(MAKE) -C $(BUILD) -j$(JOBS) wsgate_unit
	$(MAKE) -C $(BUILD) check

check: test

$(SAN_BUILD)/Makefile: configure
	mkdir -p $(SAN_BUILD)
	cd $(SAN_BUILD) && ../configure --enable-sanitizers

# Reports go to files, not to wsgate's log, so that none can pass unseen. A small quarantine
# keeps RSS under ASan close enough to the real thing for the memory-bound tests.
sanitize: test-deps $(SAN_BUILD)/Makefile
	$(MAKE) -C $(SAN_BUILD) -j$(JOBS) all wsgate_unit
	rm -rf $(SAN_REPORTS) && mkdir -p $(SAN_REPORTS)
	ASAN_OPTIONS=log_path=$(SAN_REPORTS)/asan:detect_leaks=1:quarantine_size_mb=8 \
	UBSAN_OPTIONS=log_path=$(SAN_REPORTS)/ubsan:print_stacktrace=1 \
	  $(MAKE) -C $(SAN_BUILD) check
	@if [ -n "$$(ls $(SAN_REPORTS))" ]; then cat $(SAN_REPORTS)/*; \
	  echo "sanitize: the reports above failed the run"; exit 1; fi
	@echo "sanitize: no ASan, LeakSanitizer or UBSan reports"

$(FUZZ_BUILD)/Makefile: configure
	mkdir -p $(FUZZ_BUILD)
	cd $(FUZZ_BUILD) && ../configure --enable-fuzz CXX=clang++

# New finds go to $(FUZZ_BUILD)/corpus; crashes to $(FUZZ_BUILD)/artifacts. A crash becomes a
# file in fuzz/corpus/TARGET so that every later run replays it.
fuzz: fuzz-deps $(FUZZ_BUILD)/Makefile
	$(MAKE) -C $(FUZZ_BUILD) -j$(JOBS) $(FUZZ_TARGETS:%=fuzz/%_fuzz)
	set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
	  $(FUZZ_BUILD)/fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t \
	    2>&1 | grep -E '^(stat::number_of_executed_units|Done|==[0-9]+==|SUMMARY)|ERROR' || true; \
	  test -z "$$(ls $(FUZZ_BUILD)/artifacts/$$t-* 2>/dev/null)" || { echo "fuzz: $$t crashed"; exit 1; }; \
	done

# CPU per echoed message and RSS per idle proxied connection of wsgate and the peers in one run,
# with the templates in ../shared/peers (or BENCH_PEERS); reports only, never fails on a number.
bench: bench-deps
	$(MAKE) all
	$(MAKE) -C $(BUILD) bench/wsbench bench/floor
	bash bench/run

# SKIP_INTEGRATION=1 runs only the unit tests on the tarball, not t/*.t. Parallel is safe for the
# tests too: the unit tests take well under a second beside the suite.
distcheck: test-deps $(BUILD)/Makefile
	$(MAKE) -C $(BUILD) -j$(JOBS) distcheck

# Both honour DESTDIR, e.g. make install DESTDIR=/tmp/stage.
install: all
	$(MAKE) -C $(BUILD) install

uninstall: $(BUILD)/Makefile
	$(MAKE) -C $(BUILD) uninstall

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD)

distclean: clean
	rm -rf configure config.h.in aclocal.m4 autom4te.cache build-aux m4 Makefile.in
