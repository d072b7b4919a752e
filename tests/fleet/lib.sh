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

# The packages' Recommends stay out (prometheus-node-exporter's pull in smartmontools,
# dbus and timers).
NEED_APT_OPTIONS=--no-install-recommends

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
# log; prints nothing else, sets DEB to the package's path. The package is a full
# dpkg-buildpackage (minutes), so tests/fleet/run builds it once and hands it to each
# test in FLEET_DEB; a test run alone builds its own. nocheck: `cargo test` runs in
# make test already.
build_deb() {
    if [ -n "${FLEET_DEB:-}" ] && [ -f "$FLEET_DEB" ]; then
        DEB=$FLEET_DEB
        return 0
    fi
    local log
    log=$(mktemp)
    if DEB=$(DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" \
        "$REPO/packaging/build-deb" "$1" 2>"$log" | tail -n1) && [ -f "$DEB" ]; then
        pass "packaging/build-deb builds $(basename "$DEB")"
        rm -f "$log"
        return 0
    fi
    fail "packaging/build-deb"
    tail -n 20 "$log" | sed 's/^/    /'
    rm -f "$log"
    return 1
}
