# The front door. The real build is autotools, out of tree in build/, so that this file never
# collides with generated ones.
#   make run    install missing build deps, build, run wsgate on conf/wsgate.ini
#   make test   install missing build and test deps, build, run every test
BUILD := build
CONFIGURE_FLAGS ?=
JOBS := $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps test-deps run test check install clean distclean

all: $(BUILD)/Makefile
	$(MAKE) -C $(BUILD) -j$(JOBS)

deps:
	tools/install-deps

test-deps:
	tools/install-deps --test

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

install: all
	$(MAKE) -C $(BUILD) install

clean:
	rm -rf $(BUILD)

distclean: clean
	rm -rf configure config.h.in aclocal.m4 autom4te.cache build-aux m4 Makefile.in
