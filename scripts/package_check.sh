#!/usr/bin/env bash
# Packs the existing build into signet_<version>_amd64.deb (cpack), installs it with apt,
# checks its metadata and runs the installed /usr/bin/signet (--version, a tiny train, embed and
# extract on synthetic data in a temporary directory), then removes the package again.
# Needs root or password-less sudo: without them it says so and exits 0, unless
# SIGNET_REQUIRE_PACKAGE_CHECK=1 (CI) makes that a failure. Usage: scripts/package_check.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="$(cd "${1:-build}" && pwd)"
say() { echo "package_check: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

skip() {
  if [ "${SIGNET_REQUIRE_PACKAGE_CHECK:-0}" = "1" ]; then fail "$* (SIGNET_REQUIRE_PACKAGE_CHECK=1)"; fi
  say "skipped: $*"
  exit 0
}
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  skip "installing the .deb needs root or password-less sudo"
fi
command -v cpack >/dev/null || fail "cpack not found (it comes with cmake)"
if dpkg-query -W -f='${Status}' signet 2>/dev/null | grep -q "install ok installed"; then
  skip "a signet package is installed already; not replacing it (remove it to run this check)"
fi
[ -e /usr/bin/signet ] && skip "/usr/bin/signet exists and is not from a package; not overwriting it"

# The package holds what the build has (no rebuild of the rest): signet and its man page.
cmake --build "$BUILD" --target signet >/dev/null
rm -f "$BUILD"/signet_*.deb
(cd "$BUILD" && cpack -G DEB >/dev/null) || fail "cpack could not build the package"
debs=("$BUILD"/signet_*_amd64.deb)
[ "${#debs[@]}" -eq 1 ] && [ -f "${debs[0]}" ] || fail "expected one signet_<version>_amd64.deb in $BUILD, found: ${debs[*]}"
DEB="${debs[0]}"
say "built $(basename "$DEB")"
dpkg-deb -I "$DEB" >&2

# Metadata: run-time libraries from dpkg-shlibdeps; the data set only recommended.
field() { dpkg-deb -f "$DEB" "$1"; }
depends="$(field Depends)"
for lib in libc6 libstdc++6 libgomp1 libsodium23 libopenblas0-openmp; do
  [[ "$depends" == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done
[[ "$depends" != *dataset-fashion-mnist* ]] || fail "the data set must not be a Depends: $depends"
[[ "$(field Recommends)" == *dataset-fashion-mnist* ]] || fail "Recommends lacks dataset-fashion-mnist"
contents="$(dpkg-deb -c "$DEB")"
for f in ./usr/bin/signet ./usr/share/man/man1/signet.1; do
  grep -q " $f\$" <<<"$contents" || fail "the package lacks $f"
done

TMP="$(mktemp -d)"
cleanup() {
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq signet >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
# Recommends stay out: the check must not download the data set (nor need the network at all;
# every dependency is a run-time library the build already used).
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$DEB" >/dev/null \
  || fail "apt-get could not install $DEB"
dpkg-query -W -f='${Status}' signet | grep -q "install ok installed" || fail "signet is not installed after apt-get"

BIN=/usr/bin/signet
version="$("$BIN" --version)" || fail "$BIN --version failed"
echo "$version" >&2
head -1 <<<"$version" | grep -qx "signet [0-9][0-9.]*" || fail "the first line of --version is not 'signet VERSION'"
if commit="$(git rev-parse HEAD 2>/dev/null)"; then
  grep -q "^commit  *$commit" <<<"$version" || fail "--version does not name the checked-out commit $commit"
fi
"$BIN" --version --json | grep -q '"commit"' || fail "--version --json has no commit"
man_page="$(dpkg -L signet | grep '/man1/signet\.1')" || fail "no man page installed"
for cmd in train embed extract verify certify serve; do
  grep -q "^\.SS.*$cmd" "$man_page" || fail "the man page lacks the subcommand $cmd"
done

# The installed binary at work, deterministic (--key-seed) and tiny.
data=(--dataset synthetic:1x28x28:10:300:100:3 --quiet --threads 2)
(
  cd "$TMP"
  "$BIN" train --model mnist-mlp "${data[@]}" --epochs 1 --seed 3 --out plain.safetensors
  "$BIN" embed --scheme uchida --bits 32 --lambda 0.1 --batch-size 32 --model mnist-mlp "${data[@]}" --epochs 1 \
    --seed 3 --key-seed 11 --keys-out owner.wmk --out marked.safetensors
  "$BIN" extract --keys owner.wmk --weights marked.safetensors --json >marked.json
  "$BIN" extract --keys owner.wmk --weights plain.safetensors --json >plain.json
) >&2 || fail "the installed signet failed on train/embed/extract"
grep -q '"ownership_proven":true' "$TMP/marked.json" || fail "the marked model was not claimed: $(cat "$TMP/marked.json")"
grep -q '"ownership_proven":false' "$TMP/plain.json" || fail "the unmarked model was claimed: $(cat "$TMP/plain.json")"

"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq signet >/dev/null || fail "apt-get remove failed"
[ ! -e "$BIN" ] || fail "$BIN is still there after removing the package"
say "ok: $(basename "$DEB") built, installed, ran (--version, train, embed, extract) and removed"
