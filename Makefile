# meson is the source of truth; this Makefile only wraps it.
#   make            build/oxinit (static, musl)
#   make test       every test suite (unit, integration, container, vm, bench smoke)
#   make demo       oxinit as PID 1 over examples/demo.sh
#   make install    $(DESTDIR)/sbin/oxinit
BUILD      ?= build
TEST_BUILD ?= build-test
ASAN_BUILD ?= build-asan
PREFIX     ?= /
PY         ?= /usr/bin/python3

.PHONY: all deps demo-services test unit integration container vm bench bench-quick demo install clean check-all asan
all: $(BUILD)/build.ninja
	ninja -C $(BUILD)
	@size=$$(stat -c %s $(BUILD)/oxinit); echo "build/oxinit: $$size bytes"

deps:
	@scripts/deps.sh --build

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) --native-file build-aux/musl.ini -Dmusl=true -Dunit_tests=false

$(TEST_BUILD)/build.ninja: | deps
	meson setup $(TEST_BUILD) -Dbuildtype=debug -Dwerror=true

$(ASAN_BUILD)/build.ninja: | deps
	meson setup $(ASAN_BUILD) -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

unit: $(TEST_BUILD)/build.ninja
	ninja -C $(TEST_BUILD)
	$(TEST_BUILD)/unit-tests

integration: all
	$(PY) tests/integration/run.py

vm: all
	$(PY) tests/vm/run.py

container: all
	$(PY) tests/container/run.py

demo: all
	@echo '$$ unshare --pid --fork --mount-proc build/oxinit -v -w -- sh examples/demo.sh'
	@unshare --pid --fork --mount-proc $(BUILD)/oxinit -v -w -- sh examples/demo.sh; \
	  echo "oxinit exited with $$? (the script's code)"

demo-services: all
	@echo '$$ unshare --pid --fork --mount-proc build/oxinit -c examples/services.toml  # SIGTERM after 4 s'
	@unshare --pid --fork --mount-proc $(BUILD)/oxinit -c examples/services.toml & \
	  sleep 4; kill -TERM $$(cat /proc/$$!/task/$$!/children); wait $$!; echo "oxinit exited with $$?"

install: all
	install -D -m 0755 $(BUILD)/oxinit $(DESTDIR)/sbin/oxinit

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(ASAN_BUILD)

test:
	@scripts/deps.sh
	$(PY) tests/run_all.py

# --- hardening (issue 7): fuzz (tests/fuzz/fuzz.mk) ---
include tests/fuzz/fuzz.mk

# --- hardening (issue 7): asan ---
# The unit tests and the integration suite against an ASan+UBSan glibc build
# of the same sources (musl's src/sys/runtime.cc is not in it). Reports go to
# files (the suites capture oxinit's stderr), and any report fails the run;
# LeakSanitizer works with oxinit as PID 1 of a PID namespace. make starts
# recipes with 32 and 33 ignored (scripts/with-default-signals.py says why).
ASAN_REPORTS = $(CURDIR)/$(ASAN_BUILD)/reports
ASAN_ENV = ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0:log_path=$(ASAN_REPORTS)/asan \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(ASAN_REPORTS)/ubsan
asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	@rm -rf $(ASAN_REPORTS) && mkdir -p $(ASAN_REPORTS)
	$(ASAN_ENV) $(ASAN_BUILD)/unit-tests; \
	  rc=$$?; ls $(ASAN_REPORTS) | grep -q . && { cat $(ASAN_REPORTS)/*; echo "asan: sanitizer reports in the unit tests" >&2; exit 1; }; exit $$rc
	$(ASAN_ENV) OXINIT=$(CURDIR)/$(ASAN_BUILD)/oxinit scripts/with-default-signals.py \
	  $(PY) tests/integration/run.py -x binary_is_static; \
	  rc=$$?; ls $(ASAN_REPORTS) | grep -q . && { cat $(ASAN_REPORTS)/*; echo "asan: sanitizer reports from build-asan/oxinit" >&2; exit 1; }; exit $$rc
	@echo "asan: clean (unit + integration against $(ASAN_BUILD)/oxinit, no sanitizer reports)"
