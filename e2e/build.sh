#!/usr/bin/env bash
# Builds the e2e toolchain from the Go modules pinned in e2e/tools/*/go.mod, only what is
# missing, into a cache outside the repo keyed by tool and version:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/myapp-e2e/<tool>-<version>/
#
#   bash e2e/build.sh          build what is missing, with progress on stderr
#   bash e2e/build.sh --path   print the PATH entries (colon-separated) of the built tools
#   bash e2e/build.sh --json   print {tool: {version, dir, buildSeconds}} for the report
set -euo pipefail

# kwok v0.8.0 and etcd v3.6.16 name go 1.26.0; every module here builds with the Go 1.26
# toolchain of these machines, so nothing is fetched in its place.
export GOTOOLCHAIN=local
export GOFLAGS=-mod=readonly

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="$HERE/tools"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/myapp-e2e"
LDFLAGS="-s -w"

# tool|module dir|main module whose version keys the cache|packages to build
SPECS=(
  "pulumi|pulumi|github.com/pulumi/pulumi/pkg/v3|github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
  "pulumi-resource-kubernetes|kubernetes-provider|github.com/pulumi/pulumi-kubernetes/provider/v4|github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes"
  "etcd|etcd|go.etcd.io/etcd/server/v3|go.etcd.io/etcd/server/v3"
  "kubernetes|kubernetes|k8s.io/kubernetes|k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler"
  "kwok|kwok|sigs.k8s.io/kwok|sigs.k8s.io/kwok/cmd/kwok"
)

# Every value taken from a go command is checked: `go list -m -f '{{.Dir}}'` prints an empty
# string for a module not yet in the module cache, which once made a cold build copy from /cmd/...
nonempty() {
  local step="$1" value="$2"
  [ -n "$value" ] || { echo "[e2e build] $step: the go command printed nothing" >&2; return 1; }
  printf '%s\n' "$value"
}
mod_version() {
  local v; v="$(cd "$TOOLS/$1" && go list -m -f '{{.Version}}' "$2")" || return 1
  nonempty "version of $2 (e2e/tools/$1)" "$v"
}
# Downloads the module first: on an empty module cache .Dir is empty until then.
mod_dir() {
  local d
  (cd "$TOOLS/$1" && go mod download "$2") || { echo "[e2e build] go mod download $2 (e2e/tools/$1) failed" >&2; return 1; }
  d="$(cd "$TOOLS/$1" && go list -m -f '{{.Dir}}' "$2")" || return 1
  nonempty "module directory of $2 (e2e/tools/$1)" "$d" >/dev/null || return 1
  [ -d "$d" ] || { echo "[e2e build] module directory of $2 (e2e/tools/$1): $d does not exist" >&2; return 1; }
  printf '%s\n' "$d"
}

# The launcher is a shell script, not a Go program; its cache key is its content.
analyzer_dir() {
  echo "$CACHE/pulumi-analyzer-policy-$(sha256sum "$TOOLS/policy-analyzer/pulumi-analyzer-policy" | cut -c1-12)"
}

install_analyzer() {
  local dir; dir="$(analyzer_dir)"
  [ -x "$dir/pulumi-analyzer-policy-nodejs" ] && return 0
  mkdir -p "$dir"
  # The distribution's name, and the name the 3.248 engine looks up when no
  # pulumi-language-nodejs plugin is installed: "policy-" + runtime
  # (pulumi/pulumi sdk/go/common/resource/plugin/analyzer_plugin.go, NewPolicyAnalyzer).
  install -m 0755 "$TOOLS/policy-analyzer/pulumi-analyzer-policy" "$dir/pulumi-analyzer-policy"
  install -m 0755 "$TOOLS/policy-analyzer/pulumi-analyzer-policy" "$dir/pulumi-analyzer-policy-nodejs"
}

# The provider embeds schema-embed.json and terraform-mapping-embed.json, which its
# `go generate` step (cmd/pulumi-resource-kubernetes/generate.go) writes next to main.go
# and which are therefore not in the published module. The go command refuses overlays
# into the module cache, so the main package is built from a scratch copy of this
# module (same go.mod and go.sum) holding the published main.go and the generator's output.
provider_scratch() {
  local version="$1" work="$2"
  local moddir; moddir="$(mod_dir kubernetes-provider github.com/pulumi/pulumi-kubernetes/provider/v4)"
  local src="$moddir/cmd/pulumi-resource-kubernetes"
  mkdir -p "$work/cmd/pulumi-resource-kubernetes"
  cp "$TOOLS/kubernetes-provider/go.mod" "$TOOLS/kubernetes-provider/go.sum" "$work/"
  cp "$src/main.go" "$src/schema.json" "$src/terraform-mapping.json" "$work/cmd/pulumi-resource-kubernetes/"
  (cd "$TOOLS/kubernetes-provider" && go build -o "$work/generate" "$src/generate.go")
  (cd "$work/cmd/pulumi-resource-kubernetes" && VERSION="${version#v}" "$work/generate" && rm schema.json terraform-mapping.json)
  chmod -R u+w "$work"
}

build_one() {
  local tool="$1" moddir="$2" module="$3" pkgs="$4"
  local version dir tmp start secs
  version="$(mod_version "$moddir" "$module")"
  dir="$CACHE/$tool-$version"
  if [ -f "$dir/.complete" ]; then
    SUMMARY+=("$tool $version: from the cache (its cold build took $(cat "$dir/build-seconds")s)")
    return 0
  fi
  tmp="$dir.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  echo "[e2e build] $tool $version: building (cold builds take minutes on 2 cores) ..." >&2
  start=$(date +%s)
  local moddir_abs="$TOOLS/$moddir"
  if [ "$tool" = "pulumi-resource-kubernetes" ]; then
    provider_scratch "$version" "$tmp/work"
    moddir_abs="$tmp/work" pkgs="./cmd/pulumi-resource-kubernetes"
    LDFLAGS_TOOL="$LDFLAGS -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=${version#v}"
  elif [ "$tool" = "kubernetes" ]; then
    # What kubernetes' own build stamps (hack/lib/version.sh): without it /version says
    # v0.0.0-master, and clients such as the provider read the server version from there.
    local minor="${version#v1.}"; minor="${minor%%.*}"
    LDFLAGS_TOOL="$LDFLAGS"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      LDFLAGS_TOOL="$LDFLAGS_TOOL -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    done
  elif [ "$tool" = "pulumi" ]; then
    LDFLAGS_TOOL="$LDFLAGS -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version"
  else
    LDFLAGS_TOOL="$LDFLAGS"
  fi
  # shellcheck disable=SC2086
  (cd "$moddir_abs" && go build -trimpath -ldflags="$LDFLAGS_TOOL" -o "$tmp/bin/" $pkgs) &
  local pid=$!
  local rc=0 n=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1; n=$((n + 1))
    [ $((n % 30)) = 0 ] && echo "[e2e build] $tool: still building (${n}s)" >&2
  done
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || { echo "[e2e build] $tool $version: go build failed ($rc)" >&2; exit "$rc"; }
  secs=$(( $(date +%s) - start ))
  rm -rf "$tmp/work"
  mv "$tmp/bin"/* "$tmp/" && rmdir "$tmp/bin"
  # etcd's main package is the module root, so go names the binary after its directory.
  [ "$tool" = etcd ] && mv "$tmp/server" "$tmp/etcd"
  echo "$secs" > "$tmp/build-seconds"
  touch "$tmp/.complete"
  rm -rf "$dir"; mv "$tmp" "$dir"
  echo "[e2e build] $tool $version: built in ${secs}s -> $dir" >&2
  SUMMARY+=("$tool $version: built now, in ${secs}s")
}

case "${1:-}" in
  --path)
    entries=()
    for spec in "${SPECS[@]}"; do
      IFS='|' read -r tool moddir module _ <<<"$spec"
      version="$(mod_version "$moddir" "$module")"
      entries+=("$CACHE/$tool-$version")
    done
    entries+=("$(analyzer_dir)")
    (IFS=:; echo "${entries[*]}")
    ;;
  --json)
    sep=""
    printf '{'
    for spec in "${SPECS[@]}"; do
      IFS='|' read -r tool moddir module _ <<<"$spec"
      version="$(mod_version "$moddir" "$module")"
      dir="$CACHE/$tool-$version"
      secs="$(cat "$dir/build-seconds" 2>/dev/null || echo null)"
      printf '%s"%s":{"module":"%s","version":"%s","dir":"%s","buildSeconds":%s}' "$sep" "$tool" "$module" "$version" "$dir" "$secs"
      sep=","
    done
    printf '}\n'
    ;;
  "")
    # The go kind of machine installs Go here; a non-login shell may not have it on PATH.
    [ -x /usr/local/go/bin/go ] && case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) PATH="/usr/local/go/bin:$PATH" ;; esac
    command -v go >/dev/null || { echo "[e2e build] Go 1.26 is needed to build the e2e toolchain (or set E2E_USE_PATH=1 with the binaries on PATH)" >&2; exit 1; }
    install_analyzer
    SUMMARY=()
    for spec in "${SPECS[@]}"; do
      IFS='|' read -r tool moddir module pkgs <<<"$spec"
      build_one "$tool" "$moddir" "$module" "$pkgs"
    done
    # What a CI log needs to tell a cold run from a warm one.
    echo "[e2e build] all tools present under $CACHE:" >&2
    for line in "${SUMMARY[@]}"; do echo "[e2e build]   $line" >&2; done
    ;;
  *) echo "usage: $0 [--path|--json]" >&2; exit 2 ;;
esac
