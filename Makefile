# zfslxc — run OCI images as ZFS-backed LXC containers under containerd.
# `make help` lists the targets.

SHELL := /bin/bash
GO ?= go
PREFIX ?= /usr/local
BIN := bin
# Tools built by `make deps` (containerd v2.4.2, nerdctl); kept outside the
# checkout so a fresh clone (CI) reuses them.
TOOLS_DIR ?= /var/cache/zfslxc/tools
export TOOLS_DIR

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/zfslxc/zfslxc/internal/version.Version=$(VERSION) \
           -X github.com/zfslxc/zfslxc/internal/version.Revision=$(REVISION)

BINARIES := zfslxc-snapshotter containerd-shim-lxc-v1 zfslxc zfslxc-init zfslxc-start

# Tests that need root, ZFS, LXC or containerd fail instead of skipping.
TEST_ENV := ZFSLXC_REQUIRE_ZFS=1 ZFSLXC_REQUIRE_INTEGRATION=1 ZFSLXC_BIN_DIR=$(CURDIR)/$(BIN)
TEST_TIMEOUT ?= 25m
# One test package at a time: zfs-fuse deadlocked twice when two packages
# mounted new datasets at once (a mount's FUSE INIT never answered, a
# setxattr waiting in fuse_get_req, `zfs create` stuck).
TEST_PARALLEL ?= 1

.PHONY: help deps deps-test deps-kubelet critest kubelet-test build test docker-parity test-unit lint stress hostile-big faults bench demo demo-clean install uninstall clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

deps: ## install everything needed on Debian 12 (apt packages, containerd v2.4.2, nerdctl); idempotent
	@scripts/deps.sh

deps-test: deps ## also build the tools only tests need (registry, dockerd, docker CLI, crictl, critest); idempotent
	@scripts/deps.sh --no-apt --test

deps-kubelet: deps ## also build the kubelet (only make kubelet-test needs it; ~10 min cold)
	@scripts/deps.sh --no-apt --kubelet

build: ## build the binaries into bin/
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/zfslxc-snapshotter ./cmd/zfslxc
	# The shim runs once per pod or container: static (no libc mapped,
	# 1.4 MiB less RSS per shim), as containerd's own runc shim.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/containerd-shim-lxc-v1
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS) -extldflags -static' -o $(BIN)/zfslxc-init ./cmd/zfslxc-init
	$(CC) -O2 -Wall -o $(BIN)/zfslxc-start cmd/zfslxc-start/*.c -llxc -lseccomp

test: deps-test build lint ## every test: unit, real-pool and integration (needs root; what CI runs)
	scripts/zfs-fuse-fresh.sh
	eval "$$(scripts/deps.sh --print-env)" && $(TEST_ENV) $(GO) test -race -count=1 -p $(TEST_PARALLEL) -timeout $(TEST_TIMEOUT) ./...

docker-parity: deps-test build ## docker run under runc and under the LXC shim in one dockerd; writes docs/parity.md's Docker table
	scripts/docker-parity.sh

test-unit: ## unit tests only; tests needing root/ZFS/daemons skip and say why
	$(GO) test -race -count=1 ./...

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

critest: deps-test build ## cri-tools' critest (all but Image Manager) with runc and with lxc in one containerd, 1.6 and 2.4; tables for docs/cri.md in critest.md
	eval "$$(scripts/deps.sh --print-env)" && $(TEST_ENV) ZFSLXC_TEST_CRITEST=1 ZFSLXC_CRITEST_REPORT=$(CURDIR)/critest.md $(GO) test -count=1 -timeout 90m -v -run 'TestCritest$$' ./integration/cri/

kubelet-test: deps-test deps-kubelet build ## a real kubelet (standalone, static pods) on containerd 1.6 and 2.4 with lxc as the default runtime
	eval "$$(scripts/deps.sh --print-env)" && $(TEST_ENV) ZFSLXC_TEST_KUBELET=1 $(GO) test -count=1 -timeout 30m -v -run 'TestKubelet$$' ./integration/cri/

stress: deps build ## 100 containers at once through ctr, 3 rounds, lxc+zfslxc vs runc+overlayfs; 5 parallel imports while containers and templates churn; nothing left; writes its section of docs/benchmarks.md (not part of make test)
	eval "$$(scripts/deps.sh --print-env)" && ZFSLXC_BIN_DIR=$(CURDIR)/$(BIN) scripts/stress.sh

hostile-big: deps build ## hostile input too big for make test: a 100k-entry layer through ctr import on 1.6 and 2.4 (~2.5 min here)
	eval "$$(scripts/deps.sh --print-env)" && $(TEST_ENV) ZFSLXC_TEST_BIG=1 $(GO) test -count=1 -v -timeout 40m -run 'TestHugeLayer$$' ./integration/snapshotter/

faults: deps-test build ## fault-point sweep on containerd 1.6 and 2.4: kill -9 of the snapshotter, containerd, the registry, the shim at every step of import, pull and a container's lifecycle, LXC's monitor and zfslxc-init at every step of init's set-up, then restart and check nothing is orphaned (not part of make test)
	eval "$$(scripts/deps.sh --print-env)" && $(TEST_ENV) ZFSLXC_TEST_FAULTS=1 $(GO) test -count=1 -v -timeout 60m -run 'TestFaultSweep$$' ./integration/shim/

bench: deps-test build ## benchmarks against their baselines; writes docs/benchmarks.md
	eval "$$(scripts/deps.sh --print-env)" && scripts/bench.sh

demo: deps build ## set everything up on this machine and show it working
	scripts/demo.sh

demo-clean: ## undo what make demo set up
	scripts/demo.sh clean

# Where make install puts the unit and the default config (DESTDIR is
# prepended, for packaging and the install test).
SYSTEMD_UNIT_DIR ?= /etc/systemd/system
SYSCONF_DIR ?= /etc/zfslxc

install: build ## install binaries into $(PREFIX)/bin, the systemd unit, and the default configs (kept if present)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSCONF_DIR) $(DESTDIR)$(SYSTEMD_UNIT_DIR)
	install -m 0755 $(addprefix $(BIN)/,$(BINARIES)) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|/usr/local/bin/|$(PREFIX)/bin/|g' -e 's|/etc/zfslxc/|$(SYSCONF_DIR)/|g' \
		contrib/systemd/zfslxc-snapshotter.service > $(DESTDIR)$(SYSTEMD_UNIT_DIR)/zfslxc-snapshotter.service
	chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/zfslxc-snapshotter.service
	test -e $(DESTDIR)$(SYSCONF_DIR)/snapshotter.toml || install -m 0644 docs/snapshotter.toml $(DESTDIR)$(SYSCONF_DIR)/snapshotter.toml
	test -e $(DESTDIR)$(SYSCONF_DIR)/shim.toml || install -m 0644 docs/shim.toml $(DESTDIR)$(SYSCONF_DIR)/shim.toml
	@echo "installed into $(DESTDIR)$(PREFIX)/bin, $(DESTDIR)$(SYSTEMD_UNIT_DIR), $(DESTDIR)$(SYSCONF_DIR)"
	@echo "next: set dataset in $(SYSCONF_DIR)/snapshotter.toml; zfslxc config containerd >> /etc/containerd/config.toml;"
	@echo "      systemctl daemon-reload && systemctl enable --now zfslxc-snapshotter && systemctl restart containerd; zfslxc doctor"

uninstall: ## remove what make install put (the configs in $(SYSCONF_DIR) stay)
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(BINARIES)) $(DESTDIR)$(SYSTEMD_UNIT_DIR)/zfslxc-snapshotter.service

clean: ## remove build output
	rm -rf $(BIN)
