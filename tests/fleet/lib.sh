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

# fleet_chroot DIR: a throw-away Debian 12 system in DIR (created, must not exist),
# extracted from a tarball cached in $FLEET_CACHE and made once with debootstrap
# (minbase; network to deb.debian.org; at most 15 minutes). It has systemd as init
# (for systemd-nspawn --boot), python3-apt (for ansible's apt module), initramfs-tools
# and a kernel package (the small cloud flavour) so that update-initramfs builds a
# real image. Root only.
fleet_chroot() {
    local dir=$1 includes=systemd,systemd-sysv,python3,python3-apt,initramfs-tools,linux-image-cloud-amd64
    local tarball log
    tarball=$FLEET_CACHE/bookworm-$(printf %s "$includes" | md5sum | cut -c1-8).tar
    if [ ! -s "$tarball" ]; then
        need debootstrap debootstrap || return 1
        echo "creating the Debian 12 chroot tarball $tarball (once)"
        mkdir -p "$FLEET_CACHE"
        rm -rf "$tarball.d" "$tarball.tmp"
        log=$(mktemp)
        if ! timeout 900 debootstrap --variant=minbase --include="$includes" bookworm "$tarball.d" \
                http://deb.debian.org/debian >"$log" 2>&1 ||
            ! tar -C "$tarball.d" -cf "$tarball.tmp" .; then
            fail "debootstrap could not create a Debian 12 chroot (network to deb.debian.org?)"
            tail -n 20 "$log" | sed 's/^/    /'
            rm -rf "$tarball.d" "$tarball.tmp" "$log"
            return 1
        fi
        mv "$tarball.tmp" "$tarball"
        rm -rf "$tarball.d" "$log"
    fi
    mkdir "$dir" && tar -C "$dir" -xf "$tarball"
}

# build_deb OUTDIR: packaging/build-deb, PASS with the package's name or FAIL with its
# log; prints nothing else, sets DEB to the package's path.
build_deb() {
    local log
    log=$(mktemp)
    if DEB=$("$REPO/packaging/build-deb" "$1" 2>"$log" | tail -n1) && [ -f "$DEB" ]; then
        pass "packaging/build-deb builds $(basename "$DEB")"
        rm -f "$log"
        return 0
    fi
    fail "packaging/build-deb"
    tail -n 20 "$log" | sed 's/^/    /'
    rm -f "$log"
    return 1
}
