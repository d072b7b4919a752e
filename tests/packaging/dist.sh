# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# Sourced after lib.sh by the tests that build a distribution package from the release
# tarball: dist_tarball DIR puts target/dist/ttm-autosize-VERSION.tar.gz (from
# `make dist`) into DIR and prints its path.

dist_tarball() {
    local dir=$1 name=ttm-autosize-$VERSION
    if make -C "$REPO" -n dist >/dev/null 2>&1; then
        make -C "$REPO" --no-print-directory dist >&2 || return 1
        cp "$REPO/target/dist/$name.tar.gz" "$dir/" || return 1
    else
        dist_tarball_by_hand "$dir" || return 1
    fi
    echo "$dir/$name.tar.gz"
}

# Temporary, while the Makefile has no dist target: the same contents by hand (the
# committed tree, vendor/ from `cargo vendor --locked`, .cargo/config.toml pointing
# crates-io at it; sorted names, the last commit's time, owner 0, gzip -n).
# Delete this function once `make dist` exists.
dist_tarball_by_hand() {
    local dir=$1 name=ttm-autosize-$VERSION stage epoch
    stage=$(mktemp -d) || return 1
    git -C "$REPO" archive --format=tar --prefix="$name/" HEAD | tar -x -C "$stage" || return 1
    (cd "$stage/$name" && cargo vendor --locked vendor >/dev/null 2>&1) ||
        { echo "cargo vendor --locked failed" >&2; rm -rf "$stage"; return 1; }
    mkdir -p "$stage/$name/.cargo"
    printf '%s\n' '[source.crates-io]' 'replace-with = "vendored-sources"' '' \
        '[source.vendored-sources]' 'directory = "vendor"' >"$stage/$name/.cargo/config.toml"
    epoch=$(git -C "$REPO" log -1 --format=%ct)
    tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
        -C "$stage" -cf - "$name" | gzip -n >"$dir/$name.tar.gz"
    local status=$?
    rm -rf "$stage"
    return "$status"
}
