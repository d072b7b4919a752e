#!/bin/bash
# SPDX-License-Identifier: MIT
#
# dracut module for ttm-autosize: size ttm.pages_limit (and friends) from the
# RAM of the machine at every boot, before udevd loads amdgpu.
#
# udevd reads modprobe.d once, when it starts, so `ttm-autosize apply` must
# have written /run/modprobe.d/zz-ttm-autosize.conf before then:
#  - systemd initrd: the generator enables ttm-autosize.service, ordered
#    Before=systemd-udevd.service;
#  - shell initrd (dracut --omit systemd): a `cmdline` hook at priority 00,
#    which init.sh sources before the pre-udev hooks and before udevd
#    (the idiom of dracut's own 95lunmask/parse-lunmask.sh).
# Exactly one of the two is installed.
#
# The image carries the policy files the next boot reads, each at its path:
# `ttm-autosize check --files` lists them (the main file and the drop-ins).
#
# TTM_AUTOSIZE_BINARY names the binary to put into the image (default
# @BINDIR@/ttm-autosize), and TTM_AUTOSIZE_ROOT the tree whose policy files
# go in (default /); the boot tests use them to build images from a release
# build without installing it on the build machine.

ttm_autosize_binary() {
    printf '%s\n' "${TTM_AUTOSIZE_BINARY:-@BINDIR@/ttm-autosize}"
}

# called by dracut
check() {
    # 0: the binary is installed, so include the module by default in hostonly
    #    and generic images alike: the GPU driver may be in the image or come
    #    later, and running apply costs a millisecond.
    # 1: no binary, nothing to run.
    [[ -x "$(ttm_autosize_binary)" ]] || return 1
    return 0
}

# called by dracut
depends() {
    return 0
}

# called by dracut
# shellcheck disable=SC2154 # moddir, systemd*dir are set by dracut
install() {
    local _bin _files _file
    _bin=$(ttm_autosize_binary)

    # inst_binary also resolves libraries, should a distribution build the
    # binary dynamically; the release build is static.
    inst_binary "$_bin" @BINDIR@/ttm-autosize || {
        dwarn "ttm-autosize: could not install $_bin; the image will not size ttm"
        return 0
    }

    # The image carries its own copy of the policy files. An invalid policy
    # never fails the build: warn here; at boot apply logs the error, writes
    # nothing and the kernel defaults stay.
    if ! _files=$("$_bin" check --files); then
        dwarn "ttm-autosize: the policy is invalid (see above); at boot it will be reported and the kernel defaults kept. Fix it and rebuild the image (dracut -f)."
    fi
    while IFS= read -r _file; do
        if [[ -n $_file ]]; then
            inst_simple "${TTM_AUTOSIZE_ROOT%/}$_file" "$_file"
        fi
    done <<<"$_files"

    if dracut_module_included "systemd"; then
        inst_simple "$moddir/ttm-autosize.service" "$systemdsystemunitdir/ttm-autosize.service"
        inst_dir "$systemdutildir/system-generators"
        ln_r @BINDIR@/ttm-autosize "$systemdutildir/system-generators/ttm-autosize-generator"
    else
        inst_hook cmdline 00 "$moddir/ttm-autosize-apply.sh"
    fi
}
