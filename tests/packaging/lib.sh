# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# Shared by the tests in tests/packaging/: PASS/FAIL lines that tests/packaging/run counts,
# tools installed when missing (as root, with apt-get) or a FAIL naming the package.

set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${TARGET:-x86_64-unknown-linux-musl}
BINARY=$REPO/target/$TARGET/release/ttm-autosize
# shellcheck disable=SC2034 # used by the tests that source this file
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n1)
export LC_ALL=C
umask 022
PASSED=0
FAILED=0

pass() { PASSED=$((PASSED + 1)); echo "PASS ${TEST_NAME:-?}: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL ${TEST_NAME:-?}: $*"; }

# check DESCRIPTION COMMAND...: PASS when the command succeeds, else FAIL with its output.
check() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then
        pass "$what"
    else
        fail "$what"
        printf '%s\n' "$out" | sed 's/^/    /' | head -n 40
    fi
}

# need TOOL APT-PACKAGE: install the package when the tool is missing and we are root;
# otherwise FAIL naming it. Returns non-zero when the tool is still missing.
# NEED_APT_OPTIONS: more apt-get install options (e.g. --no-install-recommends).
NEED_APT_OPTIONS=${NEED_APT_OPTIONS:-}
need() {
    local tool=$1 package=$2
    command -v "$tool" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing $package (for $tool)"
        export DEBIAN_FRONTEND=noninteractive
        local apt_install=(apt-get install -y -qq)
        # shellcheck disable=SC2206 # options are words by design
        apt_install+=($NEED_APT_OPTIONS "$package")
        "${apt_install[@]}" >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && "${apt_install[@]}" >/dev/null 2>&1; }
    fi
    command -v "$tool" >/dev/null 2>&1 && return 0
    fail "missing tool '$tool': install the Debian package '$package' (apt-get install $package)"
    return 1
}

# The release binary that `make install` ships, built by `make build` when missing.
need_binary() {
    [ -x "$BINARY" ] && return 0
    need cargo "cargo (or rustup)" || return 1
    if ! (cd "$REPO" && make build TARGET="$TARGET" >/dev/null 2>&1); then
        fail "make build failed (needs the Rust target: rustup target add $TARGET)"
        return 1
    fi
}

# Print "NAME: N passed, M failed" and exit non-zero on failure.
finish() {
    echo "${TEST_NAME:-?}: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

# The tree `make install DESTDIR=… PREFIX=/usr` gives, one line per entry: type (d, f, l),
# mode, path, and for a symbolic link its target. Keep in step with the Makefile's FILES
# and docs/DEVELOPING.md ("Installed files").
documented_tree() {
    cat <<'TREE'
d 0755 etc
f 0644 etc/ttm-autosize.toml
d 0755 usr
d 0755 usr/bin
f 0755 usr/bin/ttm-autosize
d 0755 usr/lib
d 0755 usr/lib/dracut
d 0755 usr/lib/dracut/modules.d
d 0755 usr/lib/dracut/modules.d/90ttm-autosize
f 0755 usr/lib/dracut/modules.d/90ttm-autosize/module-setup.sh
f 0755 usr/lib/dracut/modules.d/90ttm-autosize/ttm-autosize-apply.sh
f 0644 usr/lib/dracut/modules.d/90ttm-autosize/ttm-autosize.service
d 0755 usr/lib/initcpio
d 0755 usr/lib/initcpio/hooks
f 0644 usr/lib/initcpio/hooks/ttm-autosize
d 0755 usr/lib/initcpio/install
f 0644 usr/lib/initcpio/install/ttm-autosize
d 0755 usr/lib/systemd
d 0755 usr/lib/systemd/system
f 0644 usr/lib/systemd/system/ttm-autosize-metrics.service
f 0644 usr/lib/systemd/system/ttm-autosize.service
d 0755 usr/lib/systemd/system-generators
l 0777 usr/lib/systemd/system-generators/ttm-autosize-generator -> ../../../bin/ttm-autosize
d 0755 usr/share
d 0755 usr/share/bash-completion
d 0755 usr/share/bash-completion/completions
f 0644 usr/share/bash-completion/completions/ttm-autosize
d 0755 usr/share/doc
d 0755 usr/share/doc/ttm-autosize
f 0644 usr/share/doc/ttm-autosize/ttm-autosize.toml.example
d 0755 usr/share/fish
d 0755 usr/share/fish/vendor_completions.d
f 0644 usr/share/fish/vendor_completions.d/ttm-autosize.fish
d 0755 usr/share/initramfs-tools
d 0755 usr/share/initramfs-tools/hooks
f 0755 usr/share/initramfs-tools/hooks/ttm-autosize
d 0755 usr/share/initramfs-tools/scripts
d 0755 usr/share/initramfs-tools/scripts/init-top
f 0755 usr/share/initramfs-tools/scripts/init-top/ttm-autosize
d 0755 usr/share/man
d 0755 usr/share/man/man5
f 0644 usr/share/man/man5/ttm-autosize.toml.5
d 0755 usr/share/man/man8
f 0644 usr/share/man/man8/ttm-autosize.8
d 0755 usr/share/zsh
d 0755 usr/share/zsh/site-functions
f 0644 usr/share/zsh/site-functions/_ttm-autosize
TREE
}

# ships_completions ROOT [ZSH_DIR]: ROOT holds the bash, zsh and fish completions,
# each equal to its file in completions/. ZSH_DIR defaults to site-functions (the
# .deb uses Debian's vendor-completions).
ships_completions() {
    local root=$1 zsh_dir=${2:-usr/share/zsh/site-functions}
    cmp "$REPO/completions/ttm-autosize.bash" "$root/usr/share/bash-completion/completions/ttm-autosize" &&
        cmp "$REPO/completions/_ttm-autosize" "$root/$zsh_dir/_ttm-autosize" &&
        cmp "$REPO/completions/ttm-autosize.fish" "$root/usr/share/fish/vendor_completions.d/ttm-autosize.fish"
}

# The same format for an actual tree (sorted).
list_tree() {
    (cd "$1" && find . -mindepth 1 -printf '%y %m %P -> %l\n') |
        awk '{ mode = sprintf("%04d", $2); if ($1 == "l") print $1, mode, $3, $4, $5;
               else print $1, mode, $3 }' | sort -k3,3
}
