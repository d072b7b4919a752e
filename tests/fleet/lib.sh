# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# Shared by the tests in tests/fleet/: the PASS/FAIL helpers of tests/packaging/lib.sh
# (check, need, finish), plus the release binary built with cargo and bounded waits.

# shellcheck source=../packaging/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../packaging/lib.sh"

# Where the slow, reusable artefacts live between runs (the Debian 12 chroot tarball).
FLEET_CACHE=${FLEET_CACHE:-/var/tmp/ttm-autosize-fleet}

# The static release binary the packages ship, built (or found up to date) by cargo.
build_binary() {
    need cargo "cargo (or rustup)" || return 1
    local log
    log=$(mktemp)
    if ! (cd "$REPO" && cargo build --release --target "$TARGET") >"$log" 2>&1; then
        fail "cargo build --release --target $TARGET (rustup target add $TARGET?)"
        tail -n 20 "$log" | sed 's/^/    /'
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}

# wait_until SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds; fails after
# SECONDS.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

# need TOOL APT-PACKAGE: as in tests/packaging/lib.sh, but without the package's
# Recommends (prometheus-node-exporter's pull in smartmontools, dbus and timers).
need() {
    local tool=$1 package=$2
    command -v "$tool" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing $package (for $tool)"
        export DEBIAN_FRONTEND=noninteractive
        local install=(apt-get install -y -qq --no-install-recommends "$package")
        "${install[@]}" >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && "${install[@]}" >/dev/null 2>&1; }
    fi
    command -v "$tool" >/dev/null 2>&1 && return 0
    fail "missing tool '$tool': install the Debian package '$package' (apt-get install $package)"
    return 1
}
