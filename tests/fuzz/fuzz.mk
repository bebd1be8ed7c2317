# libFuzzer targets (clang 14 + Debian's libclang-rt-14-dev), included by the
# top Makefile.
#   make fuzz                 replay tests/fuzz/regressions, then fuzz each
#                             target for FUZZ_TIME seconds (CI: 20)
#   make fuzz FUZZ_TIME=600   a long run; FUZZ_TARGETS=config for one target
#   make fuzz-build           only build build-fuzz/fuzz-<target>
# New inputs go to build-fuzz/corpus/<target> (the checked-in seeds in
# tests/fuzz/corpus are read, never written); a crash leaves its input in
# build-fuzz/artifacts/<target>/ and fails the run: copy it into
# tests/fuzz/regressions/<target>/ once fixed.
FUZZ_BUILD   ?= build-fuzz
FUZZ_TIME    ?= 20
FUZZ_TARGETS ?= config cli specs ready ctl
FUZZ_CXX     ?= clang++-14
FUZZ_FLAGS   ?=
FUZZ_DIR     := tests/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CXXFLAGS := -std=c++20 -g -O1 -fno-exceptions -fno-rtti -Isrc -DOXINIT_VERSION='"fuzz"' \
  -Wall -Wextra -Werror -Wno-missing-field-initializers $(FUZZ_SAN)
# Only the parsers' rooms: coverage figures then speak of parser code alone.
FUZZ_SRC := src/sys/str.cc src/sys/format.cc src/sys/text.cc src/log.cc src/cli.cc src/signals.cc \
  src/plan.cc src/users.cc src/config/error.cc src/config/toml.cc src/config/schema.cc src/ctl/protocol.cc \
  src/vm/net.cc src/vm/log.cc
FUZZ_OBJ := $(patsubst src/%.cc,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_SRC))
FUZZ_BINS := $(addprefix $(FUZZ_BUILD)/fuzz-,$(FUZZ_TARGETS))
# The readiness parsers live beside the probes' and the notify socket's
# I/O, which the target links but never calls.
FUZZ_READY_OBJ := $(patsubst src/%.cc,$(FUZZ_BUILD)/obj/%.o,src/probe.cc src/notify.cc src/loop.cc src/spawn.cc)
# Per-target input limits: a config may be long, a flag short.
FUZZ_MAXLEN_config := 16384
FUZZ_MAXLEN_cli    := 1024
FUZZ_MAXLEN_specs  := 64
FUZZ_MAXLEN_ready  := 4096
FUZZ_MAXLEN_ctl    := 4096

.PHONY: fuzz fuzz-build fuzz-tool
fuzz-tool:
	@command -v $(FUZZ_CXX) >/dev/null || { echo "fuzz: $(FUZZ_CXX) not found: apt-get install -y clang-14 libclang-rt-14-dev" >&2; exit 1; }
	@f=$$($(FUZZ_CXX) -print-file-name=libclang_rt.fuzzer-x86_64.a); [ -f "$$f" ] || \
	  { echo "fuzz: libFuzzer runtime missing: apt-get install -y libclang-rt-14-dev" >&2; exit 1; }

$(FUZZ_BUILD)/obj/%.o: src/%.cc | fuzz-tool
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -MMD -c $< -o $@

$(FUZZ_BUILD)/fuzz-%: $(FUZZ_DIR)/fuzz_%.cc $(FUZZ_OBJ) | fuzz-tool
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer $(filter %.cc %.o,$^) -o $@
$(FUZZ_BUILD)/fuzz-ready: $(FUZZ_READY_OBJ)

.SECONDARY: $(FUZZ_OBJ) $(FUZZ_READY_OBJ)
-include $(FUZZ_OBJ:.o=.d) $(FUZZ_READY_OBJ:.o=.d)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  reg=$$(find $(FUZZ_DIR)/regressions/$$t -type f ! -name README 2>/dev/null | sort); \
	  if [ -n "$$reg" ]; then \
	    echo "fuzz: $$t: replaying $$(echo "$$reg" | wc -l) regression inputs"; \
	    $(FUZZ_BUILD)/fuzz-$$t $$reg 2>$(FUZZ_BUILD)/replay-$$t.log || \
	      { tail -40 $(FUZZ_BUILD)/replay-$$t.log; echo "fuzz: $$t: a regression input fails" >&2; exit 1; }; \
	  fi; \
	done
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t; \
	  echo "fuzz: $$t: $(FUZZ_TIME) s"; \
	  ml=$$(case $$t in config) echo $(FUZZ_MAXLEN_config);; cli) echo $(FUZZ_MAXLEN_cli);; ready) echo $(FUZZ_MAXLEN_ready);; ctl) echo $(FUZZ_MAXLEN_ctl);; *) echo $(FUZZ_MAXLEN_specs);; esac); \
	  ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  $(FUZZ_BUILD)/fuzz-$$t -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=2048 \
	    -max_len=$$ml -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ $(FUZZ_FLAGS) \
	    $(FUZZ_BUILD)/corpus/$$t $(FUZZ_DIR)/corpus/$$t > $(FUZZ_BUILD)/fuzz-$$t.log 2>&1 || \
	    { tail -60 $(FUZZ_BUILD)/fuzz-$$t.log; echo "fuzz: $$t: FAILED (input in $(FUZZ_BUILD)/artifacts/$$t/)" >&2; exit 1; }; \
	  grep -E '^#[0-9]+[[:space:]]+DONE' $(FUZZ_BUILD)/fuzz-$$t.log | tail -1 | sed "s/^/fuzz: $$t: /"; \
	  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' $(FUZZ_BUILD)/fuzz-$$t.log | sed "s/^/fuzz: $$t: /"; \
	done
	@echo "fuzz: $(words $(FUZZ_TARGETS)) passed, 0 failed"
