# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# Sourced after lib.sh by the tests that build a distribution package from the release
# tarball: dist_tarball DIR runs `make dist`, copies
# target/dist/ttm-autosize-VERSION.tar.gz into DIR and prints the copy's path.

dist_tarball() {
    local dir=$1 name=ttm-autosize-$VERSION
    make -C "$REPO" --no-print-directory dist >&2 || return 1
    cp "$REPO/target/dist/$name.tar.gz" "$dir/" || return 1
    echo "$dir/$name.tar.gz"
}
