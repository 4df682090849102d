#!/usr/bin/env bash
# scripts/deps.sh — install everything zfslxc needs on Debian 12 (run as root).
#
# Idempotent: a re-run with everything present takes well under 2 s.
#
#   scripts/deps.sh               install Debian packages + build pinned tools
#   scripts/deps.sh --print-env   print `export` lines (for eval / a Makefile)
#   scripts/deps.sh --no-apt      skip the Debian package step
#   scripts/deps.sh --test        also build the tools only tests need
#                                 (registry, dockerd, docker CLI, crictl, critest)
#   scripts/deps.sh --kubelet     also build the kubelet (only `make kubelet-test`)
#
# Tools are built with the Go toolchain from the Go module proxy into
# versioned directories under TOOLS_DIR (default /var/cache/zfslxc/tools),
# outside the work tree so they survive a fresh clone (CI clones fresh):
#   $TOOLS_DIR/containerd-v2.4.2/bin/{containerd,ctr,containerd-shim-runc-v2}
#   $TOOLS_DIR/nerdctl-v1.7.7/bin/nerdctl
#   $TOOLS_DIR/registry-v3.1.2/bin/registry                    (--test)
#   $TOOLS_DIR/moby-v2.0.0-beta.24/bin/{dockerd,docker-proxy}  (--test)
#   $TOOLS_DIR/docker-cli-v29.9.3/bin/docker                   (--test)
#   $TOOLS_DIR/cri-tools-v1.34.0/bin/{crictl,critest}          (--test)
#   $TOOLS_DIR/kubelet-v1.34.4/bin/kubelet                     (--kubelet)
# They never go to ~/go/bin: that is early on PATH here and would shadow
# Debian's /usr/bin/containerd and /usr/bin/ctr (containerd 1.6).
#
# Shim lookup: containerd (1.6 and 2.x) finds containerd-shim-runc-v2 with
# exec.LookPath (PATH) first and only falls back to the directory of its own
# executable when the shim is not on PATH at all. Since Debian's shim is in
# /usr/bin, start the 2.4.2 daemon with PATH="$ZFSLXC_CONTAINERD2_BIN_DIR:$PATH"
# and Debian's 1.6 daemon with a PATH that does NOT contain that directory.
set -euo pipefail

CONTAINERD_VERSION=v2.4.2
NERDCTL_VERSION=v1.7.7
TOOLS_DIR="$(realpath -m "${TOOLS_DIR:-/var/cache/zfslxc/tools}")"
CONTAINERD_BIN_DIR="$TOOLS_DIR/containerd-$CONTAINERD_VERSION/bin"
NERDCTL_BIN_DIR="$TOOLS_DIR/nerdctl-$NERDCTL_VERSION/bin"
# Test-only tools (--test): the reference registry server, Docker Engine
# 29's daemon (moby/moby/v2) with its docker-proxy, and the docker CLI.
REGISTRY_VERSION=v3.1.2
REGISTRY_BIN_DIR="$TOOLS_DIR/registry-$REGISTRY_VERSION/bin"
MOBY_VERSION=v2.0.0-beta.24
MOBY_BIN_DIR="$TOOLS_DIR/moby-$MOBY_VERSION/bin"
DOCKER_CLI_VERSION=v29.9.3
DOCKER_CLI_BIN_DIR="$TOOLS_DIR/docker-cli-$DOCKER_CLI_VERSION/bin"
# crictl and critest (--test); the kubelet (--kubelet, only its own test).
CRI_TOOLS_VERSION=v1.34.0
CRI_TOOLS_BIN_DIR="$TOOLS_DIR/cri-tools-$CRI_TOOLS_VERSION/bin"
KUBELET_VERSION=v1.34.4
KUBELET_BIN_DIR="$TOOLS_DIR/kubelet-$KUBELET_VERSION/bin"

APT_PACKAGES=(
	zfs-fuse
	lxc lxc-dev liblxc1 pkg-config
	containerd runc containernetworking-plugins iptables iproute2 uidmap
	busybox-static
	hyperfine gcc libc6-dev make git ca-certificates
	util-linux procps psmisc
)

log() { printf '==> %s\n' "$*"; }
die() { printf 'deps.sh: error: %s\n' "$*" >&2; exit 1; }

print_env() {
	printf 'export ZFSLXC_TOOLS_DIR=%q\n' "$TOOLS_DIR"
	printf 'export ZFSLXC_CONTAINERD1_BIN_DIR=%q\n' /usr/bin
	printf 'export ZFSLXC_CONTAINERD2_BIN_DIR=%q\n' "$CONTAINERD_BIN_DIR"
	printf 'export ZFSLXC_NERDCTL=%q\n' "$NERDCTL_BIN_DIR/nerdctl"
	printf 'export ZFSLXC_REGISTRY=%q\n' "$REGISTRY_BIN_DIR/registry"
	printf 'export ZFSLXC_DOCKERD=%q\n' "$MOBY_BIN_DIR/dockerd"
	printf 'export ZFSLXC_DOCKER_PROXY=%q\n' "$MOBY_BIN_DIR/docker-proxy"
	printf 'export ZFSLXC_DOCKER=%q\n' "$DOCKER_CLI_BIN_DIR/docker"
	printf 'export ZFSLXC_CRICTL=%q\n' "$CRI_TOOLS_BIN_DIR/crictl"
	printf 'export ZFSLXC_CRITEST=%q\n' "$CRI_TOOLS_BIN_DIR/critest"
	printf 'export ZFSLXC_KUBELET=%q\n' "$KUBELET_BIN_DIR/kubelet"
}

do_apt=1
do_test=0
do_kubelet=0
for arg in "$@"; do
	case "$arg" in
	--print-env) print_env; exit 0 ;;
	--no-apt) do_apt=0 ;;
	--test) do_test=1 ;;
	--kubelet) do_kubelet=1 ;;
	-h | --help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument: $arg (try --help)" ;;
	esac
done

[ "$(id -u)" -eq 0 ] || die "run as root"

# ---------------------------------------------------------------- apt
if [ "$do_apt" = 1 ]; then
	missing=()
	# One dpkg-query for all packages; unknown packages print nothing.
	status="$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${APT_PACKAGES[@]}" 2>/dev/null || true)"
	for p in "${APT_PACKAGES[@]}"; do
		if ! grep -qE "^${p}(:[a-z0-9]+)? ii" <<<"$status"; then
			missing+=("$p")
		fi
	done
	if [ "${#missing[@]}" -eq 0 ]; then
		log "apt: all ${#APT_PACKAGES[@]} packages present"
	else
		log "apt: installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq "${missing[@]}" >/dev/null
		log "apt: done"
	fi
fi

# ---------------------------------------------------------------- go
GO="$(command -v go || true)"
[ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; } ||
	die "the go command is not installed (need Go >= 1.21; containerd $CONTAINERD_VERSION needs 1.26.6, which go fetches itself via GOTOOLCHAIN)"

# Build outside any module/workspace, with only the flags we pass.
go_env=(env GOWORK=off GOFLAGS=-buildvcs=false)

mkdir -p "$TOOLS_DIR"
# Serialise concurrent runs (e.g. a developer and CI on one machine).
exec 9>"$TOOLS_DIR/.lock"
flock 9

tmp="$(mktemp -d "$TOOLS_DIR/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# Capture the whole output before matching: `cmd | grep -q` under pipefail
# fails at random when grep exits early and cmd dies of SIGPIPE (the shim
# prints its -v output in several writes).
out_has() { # needle cmd...
	local needle="$1" out
	shift
	out="$("$@" 2>/dev/null)" || return 1
	[[ "$out" == *"$needle"* ]]
}

containerd_ok() {
	local d="$1"
	[ -x "$d/containerd" ] && [ -x "$d/ctr" ] && [ -x "$d/containerd-shim-runc-v2" ] || return 1
	out_has " $CONTAINERD_VERSION" "$d/containerd" --version || return 1
	out_has " $CONTAINERD_VERSION" "$d/ctr" --version || return 1
	out_has "Version:  $CONTAINERD_VERSION" "$d/containerd-shim-runc-v2" -v || return 1
}

nerdctl_ok() {
	[ -x "$1/nerdctl" ] && out_has "version ${NERDCTL_VERSION#v}" "$1/nerdctl" --version
}

# Run a build step with its output (go's "downloading" lines) in a log that is
# shown only when the step fails.
logged() { # name cmd...
	local name="$1"
	shift
	if ! "$@" >"$tmp/$name.log" 2>&1; then
		tail -n 40 "$tmp/$name.log" >&2
		die "$name failed (output above)"
	fi
}

install_dir() { # staging-bin-dir final-bin-dir
	local parent
	parent="$(dirname "$2")"
	rm -rf "$parent"
	mkdir -p "$parent"
	mv "$1" "$2"
}

# ---------------------------------------------------------------- containerd
if containerd_ok "$CONTAINERD_BIN_DIR"; then
	log "containerd $CONTAINERD_VERSION: present in $CONTAINERD_BIN_DIR"
else
	log "containerd $CONTAINERD_VERSION: building (cold: ~2.5 min on 2 cores)"
	start=$SECONDS
	stage="$tmp/containerd-bin"
	mkdir -p "$stage"
	pkg=github.com/containerd/containerd/v2
	# Same flags as upstream's Makefile: version stamped by -X (go install
	# leaves it at "2.4.2+unknown" otherwise); daemon and ctr with cgo (btrfs
	# builds here without extra headers); shim static, CGO_ENABLED=0, no_grpc.
	ld="-X $pkg/version.Version=$CONTAINERD_VERSION -X $pkg/version.Package=$pkg"
	cd "$tmp"
	logged "go install containerd+ctr" \
		"${go_env[@]}" GOBIN="$stage" CGO_ENABLED=1 "$GO" install \
		-tags urfave_cli_no_docs -ldflags "$ld" \
		"$pkg/cmd/containerd@$CONTAINERD_VERSION" "$pkg/cmd/ctr@$CONTAINERD_VERSION"
	logged "go install containerd-shim-runc-v2" \
		"${go_env[@]}" GOBIN="$stage" CGO_ENABLED=0 "$GO" install \
		-tags "urfave_cli_no_docs no_grpc" -ldflags "$ld" \
		"$pkg/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION"
	cd - >/dev/null
	containerd_ok "$stage" || die "built containerd binaries fail their --version check"
	install_dir "$stage" "$CONTAINERD_BIN_DIR"
	log "containerd $CONTAINERD_VERSION: built in $((SECONDS - start)) s"
fi

# ---------------------------------------------------------------- nerdctl
if nerdctl_ok "$NERDCTL_BIN_DIR"; then
	log "nerdctl $NERDCTL_VERSION: present in $NERDCTL_BIN_DIR"
else
	log "nerdctl $NERDCTL_VERSION: building (cold: ~1.5 min on 2 cores)"
	start=$SECONDS
	# `go install github.com/containerd/nerdctl/cmd/nerdctl@v1.7.7` fails here:
	# it reads the module's version list (for deprecation) and the proxy
	# answers 403 for that list. A throwaway module that requires the exact
	# version and builds with -mod=mod never asks for the list.
	mod="$tmp/nerdctl-mod"
	stage="$tmp/nerdctl-bin"
	mkdir -p "$mod" "$stage"
	cd "$mod"
	logged "go mod init (nerdctl)" "${go_env[@]}" "$GO" mod init zfslxc.invalid/nerdctl-build
	logged "go mod edit (nerdctl)" \
		"${go_env[@]}" "$GO" mod edit -require="github.com/containerd/nerdctl@$NERDCTL_VERSION"
	logged "go build nerdctl" \
		"${go_env[@]}" GOFLAGS="-buildvcs=false -mod=mod" "$GO" build -o "$stage/nerdctl" \
		-ldflags "-X github.com/containerd/nerdctl/pkg/version.Version=$NERDCTL_VERSION" \
		github.com/containerd/nerdctl/cmd/nerdctl
	cd - >/dev/null
	nerdctl_ok "$stage" || die "built nerdctl fails its --version check"
	install_dir "$stage" "$NERDCTL_BIN_DIR"
	log "nerdctl $NERDCTL_VERSION: built in $((SECONDS - start)) s"
fi

# ---------------------------------------------------------------- test tools
# Built only with --test (make test), never by make demo. One function per
# tool, each self-contained: check, build into a staging dir, install.

# go_scratch_build: build PKG of MODULE@VERSION from a throwaway module that
# requires exactly that version (go install of a module would ask the proxy
# for its version list, which it refuses here, as for nerdctl). The
# selected dependency versions are the module's own go.mod pins.
go_scratch_build() { # name module version out pkg env/flags...
	local name="$1" module="$2" version="$3" out="$4" pkg="$5"
	shift 5
	local mod="$tmp/$name-mod"
	mkdir -p "$mod"
	logged "go mod init ($name)" "${go_env[@]}" "$GO" -C "$mod" mod init "zfslxc.invalid/$name-build"
	logged "go mod edit ($name)" "${go_env[@]}" "$GO" -C "$mod" mod edit -require="$module@$version"
	logged "go build $name" "${go_env[@]}" GOFLAGS="-buildvcs=false -mod=mod" "$@" "$GO" -C "$mod" build -o "$out" "${BUILD_ARGS[@]}" "$pkg"
}

registry_ok() {
	[ -x "$1/registry" ] && out_has " $REGISTRY_VERSION" "$1/registry" --version
}

# The reference registry server (distribution v3, cmd/registry).
build_registry() {
	if registry_ok "$REGISTRY_BIN_DIR"; then
		log "registry $REGISTRY_VERSION: present in $REGISTRY_BIN_DIR"
		return
	fi
	log "registry $REGISTRY_VERSION: building (cold: ~1.5 min on 2 cores)"
	local start=$SECONDS stage="$tmp/registry-bin" m=github.com/distribution/distribution/v3
	mkdir -p "$stage"
	BUILD_ARGS=(-ldflags "-X $m/version.version=$REGISTRY_VERSION")
	go_scratch_build registry "$m" "$REGISTRY_VERSION" "$stage/registry" "$m/cmd/registry" env CGO_ENABLED=0
	registry_ok "$stage" || die "built registry fails its --version check"
	install_dir "$stage" "$REGISTRY_BIN_DIR"
	log "registry $REGISTRY_VERSION: built in $((SECONDS - start)) s"
}

moby_ok() {
	[ -x "$1/dockerd" ] && [ -x "$1/docker-proxy" ] &&
		out_has "version $MOBY_VERSION" "$1/dockerd" --version
}

# Docker Engine 29's daemon and docker-proxy (the userland proxy that -p
# starts; dockerd is told its path with --userland-proxy-path). Tags as
# upstream's hack/make.sh: nri_no_wasm leaves out the wasm NRI plugin
# runtime. docker-init (tini, for --init) is a C program outside the
# module: not built; only `docker run --init` needs it.
build_moby() {
	if moby_ok "$MOBY_BIN_DIR"; then
		log "dockerd $MOBY_VERSION: present in $MOBY_BIN_DIR"
		return
	fi
	log "dockerd $MOBY_VERSION: building (cold: ~6 min on 2 cores)"
	local start=$SECONDS stage="$tmp/moby-bin" m=github.com/moby/moby/v2
	mkdir -p "$stage"
	BUILD_ARGS=(-tags "netgo osusergo static_build nri_no_wasm"
		-ldflags "-X $m/dockerversion.Version=$MOBY_VERSION -X $m/dockerversion.GitCommit=$MOBY_VERSION")
	go_scratch_build moby "$m" "$MOBY_VERSION" "$stage/dockerd" "$m/cmd/dockerd" env CGO_ENABLED=0
	BUILD_ARGS=(-tags "netgo osusergo static_build")
	logged "go build docker-proxy" "${go_env[@]}" GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0 \
		"$GO" -C "$tmp/moby-mod" build -o "$stage/docker-proxy" "${BUILD_ARGS[@]}" "$m/cmd/docker-proxy"
	moby_ok "$stage" || die "built dockerd fails its --version check"
	install_dir "$stage" "$MOBY_BIN_DIR"
	log "dockerd $MOBY_VERSION: built in $((SECONDS - start)) s"
}

docker_cli_ok() {
	[ -x "$1/docker" ] && out_has "version ${DOCKER_CLI_VERSION#v}," "$1/docker" --version
}

# The docker CLI. github.com/docker/cli has no go.mod (CalVer, served as
# +incompatible), so requiring it from a scratch module would leave its
# dependencies unpinned. Its module zip carries vendor.mod and vendor.sum
# (not vendor/: module zips leave it out): build a copy with vendor.mod as
# go.mod, as upstream's scripts/with-go-mod.sh does, so every dependency
# is at the version upstream pins, but one: the proxy refuses
# github.com/moby/swarmkit/v2 v2.1.3 ("403 Forbidden: This module version
# is not available"), so it is replaced by the swarmkit commit dockerd
# $MOBY_VERSION pins (the same Docker 29 line; the CLI uses only its API
# types).
DOCKER_CLI_REPLACES=(
	github.com/moby/swarmkit/v2=github.com/moby/swarmkit/v2@v2.1.3-0.20260828175525-ad0357aedfca
)
build_docker_cli() {
	if docker_cli_ok "$DOCKER_CLI_BIN_DIR"; then
		log "docker CLI $DOCKER_CLI_VERSION: present in $DOCKER_CLI_BIN_DIR"
		return
	fi
	log "docker CLI $DOCKER_CLI_VERSION: building (cold: ~2 min on 2 cores)"
	local start=$SECONDS stage="$tmp/docker-cli-bin" src="$tmp/docker-cli-src" dir
	mkdir -p "$stage"
	dir="$(cd "$tmp" && "${go_env[@]}" "$GO" mod download -json "github.com/docker/cli@$DOCKER_CLI_VERSION+incompatible" |
		sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
	[ -d "$dir" ] || die "go mod download github.com/docker/cli@$DOCKER_CLI_VERSION+incompatible gave no directory"
	cp -r "$dir" "$src"
	chmod -R u+w "$src"
	cp "$src/vendor.mod" "$src/go.mod"
	cp "$src/vendor.sum" "$src/go.sum"
	local r
	for r in "${DOCKER_CLI_REPLACES[@]}"; do
		logged "go mod edit (docker CLI)" "${go_env[@]}" "$GO" -C "$src" mod edit -replace="$r"
	done
	logged "go build docker" "${go_env[@]}" GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0 \
		"$GO" -C "$src" build -o "$stage/docker" -tags "osusergo netgo grpcnotrace" \
		-ldflags "-X github.com/docker/cli/cli/version.Version=${DOCKER_CLI_VERSION#v} -X github.com/docker/cli/cli/version.GitCommit=${DOCKER_CLI_VERSION}" \
		./cmd/docker
	docker_cli_ok "$stage" || die "built docker CLI fails its --version check"
	install_dir "$stage" "$DOCKER_CLI_BIN_DIR"
	log "docker CLI $DOCKER_CLI_VERSION: built in $((SECONDS - start)) s"
}

# ---------------------------------------------------------------- cri-tools (--test)
# crictl and critest from sigs.k8s.io/cri-tools. critest is a Ginkgo suite
# (cmd/critest is a test package), so it is `go test -c` of that package.
# Both from one throwaway module (go_scratch_build).
cri_tools_ok() {
	[ -x "$1/crictl" ] && [ -x "$1/critest" ] &&
		out_has "${CRI_TOOLS_VERSION}" "$1/crictl" --version &&
		out_has "${CRI_TOOLS_VERSION}" "$1/critest" -version
}

build_cri_tools() {
	if cri_tools_ok "$CRI_TOOLS_BIN_DIR"; then
		log "cri-tools $CRI_TOOLS_VERSION: present in $CRI_TOOLS_BIN_DIR"
		return
	fi
	log "cri-tools $CRI_TOOLS_VERSION: building crictl and critest (cold: ~3 min on 2 cores)"
	local start=$SECONDS stage="$tmp/cri-tools-bin" pkg=sigs.k8s.io/cri-tools
	mkdir -p "$stage"
	BUILD_ARGS=(-ldflags "-X $pkg/pkg/version.Version=$CRI_TOOLS_VERSION")
	go_scratch_build cri-tools "$pkg" "$CRI_TOOLS_VERSION" "$stage/crictl" "$pkg/cmd/crictl" env CGO_ENABLED=0
	logged "go test -c critest" "${go_env[@]}" GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0 \
		"$GO" -C "$tmp/cri-tools-mod" test -c -o "$stage/critest" "${BUILD_ARGS[@]}" "$pkg/cmd/critest"
	cri_tools_ok "$stage" || die "built crictl/critest fail their --version check"
	install_dir "$stage" "$CRI_TOOLS_BIN_DIR"
	log "cri-tools $CRI_TOOLS_VERSION: built in $((SECONDS - start)) s"
}

# ---------------------------------------------------------------- kubelet (--kubelet)
# The kubelet from k8s.io/kubernetes. Its go.mod requires the staging modules
# (k8s.io/api, k8s.io/client-go, ...) at v0.0.0 and replaces them with
# ./staging paths, which a dependent module ignores: the throwaway module
# replaces each one with the published staging module of the matching
# version (v1.34.4 -> v0.34.4), the list read from kubernetes' own go.mod.
kubelet_ok() {
	[ -x "$1/kubelet" ] && out_has "Kubernetes $KUBELET_VERSION" "$1/kubelet" --version
}

build_kubelet() {
	if kubelet_ok "$KUBELET_BIN_DIR"; then
		log "kubelet $KUBELET_VERSION: present in $KUBELET_BIN_DIR"
		return
	fi
	log "kubelet $KUBELET_VERSION: building (cold: ~10 min on 2 cores)"
	local start=$SECONDS mod="$tmp/kubelet-mod" stage="$tmp/kubelet-bin"
	local staging_version="v0.${KUBELET_VERSION#v1.}" gomod staging m
	mkdir -p "$mod" "$stage"
	cd "$mod"
	logged "go mod init (kubelet)" "${go_env[@]}" "$GO" mod init zfslxc.invalid/kubelet-build
	logged "go mod download (kubernetes go.mod)" \
		"${go_env[@]}" "$GO" mod download -json "k8s.io/kubernetes@$KUBELET_VERSION"
	gomod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' "$tmp/go mod download (kubernetes go.mod).log")"
	[ -r "$gomod" ] || die "kubelet: no go.mod for k8s.io/kubernetes@$KUBELET_VERSION in the module cache"
	staging="$(sed -n 's|^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/.*$|\1|p' "$gomod")"
	[ -n "$staging" ] || die "kubelet: no staging replace lines in $gomod"
	local edits=(-require="k8s.io/kubernetes@$KUBELET_VERSION")
	for m in $staging; do
		edits+=(-replace="$m=$m@$staging_version")
	done
	logged "go mod edit (kubelet)" "${go_env[@]}" "$GO" mod edit "${edits[@]}"
	local ld="-X k8s.io/component-base/version.gitVersion=$KUBELET_VERSION"
	ld+=" -X k8s.io/component-base/version.gitMajor=1"
	ld+=" -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$KUBELET_VERSION")"
	ld+=" -X k8s.io/component-base/version.gitTreeState=clean"
	logged "go build kubelet" \
		"${go_env[@]}" GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0 "$GO" build \
		-o "$stage/kubelet" -ldflags "$ld" k8s.io/kubernetes/cmd/kubelet
	cd - >/dev/null
	kubelet_ok "$stage" || die "built kubelet fails its --version check"
	install_dir "$stage" "$KUBELET_BIN_DIR"
	log "kubelet $KUBELET_VERSION: built in $((SECONDS - start)) s"
}

if [ "$do_test" = 1 ]; then
	build_registry
	build_docker_cli
	build_moby
	build_cri_tools
fi
if [ "$do_kubelet" = 1 ]; then
	# Minutes of build: under a lock of its own, so a concurrent
	# `make deps` is not held up.
	flock -u 9
	exec 8>"$TOOLS_DIR/.lock-kubelet"
	flock 8
	build_kubelet
fi

log "paths:"
printf '    containerd 1.6 (Debian): %s\n' /usr/bin/containerd
printf '    containerd %s:        %s\n' "$CONTAINERD_VERSION" "$CONTAINERD_BIN_DIR"
printf '    nerdctl %s:           %s\n' "$NERDCTL_VERSION" "$NERDCTL_BIN_DIR/nerdctl"
if [ "$do_test" = 1 ]; then
	printf '    registry %s:          %s\n' "$REGISTRY_VERSION" "$REGISTRY_BIN_DIR/registry"
	printf '    dockerd %s:   %s\n' "$MOBY_VERSION" "$MOBY_BIN_DIR/dockerd"
	printf '    docker CLI %s:       %s\n' "$DOCKER_CLI_VERSION" "$DOCKER_CLI_BIN_DIR/docker"
	printf '    crictl, critest %s:  %s\n' "$CRI_TOOLS_VERSION" "$CRI_TOOLS_BIN_DIR"
fi
[ "$do_kubelet" = 0 ] || printf '    kubelet %s:          %s\n' "$KUBELET_VERSION" "$KUBELET_BIN_DIR/kubelet"
printf '    env: eval "$(%s --print-env)"\n' "$0"
