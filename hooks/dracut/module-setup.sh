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
# TTM_AUTOSIZE_BINARY and TTM_AUTOSIZE_POLICY name the binary and the policy
# to put into the image (defaults @BINDIR@/ttm-autosize and
# /etc/ttm-autosize.toml); the boot tests use them to build images from a
# release build without installing it on the build machine.

ttm_autosize_binary() {
    printf '%s\n' "${TTM_AUTOSIZE_BINARY:-@BINDIR@/ttm-autosize}"
}

ttm_autosize_policy() {
    printf '%s\n' "${TTM_AUTOSIZE_POLICY:-/etc/ttm-autosize.toml}"
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
    local _bin _policy
    _bin=$(ttm_autosize_binary)
    _policy=$(ttm_autosize_policy)

    # inst_binary also resolves libraries, should a distribution build the
    # binary dynamically; the release build is static.
    inst_binary "$_bin" @BINDIR@/ttm-autosize || {
        dwarn "ttm-autosize: could not install $_bin; the image will not size ttm"
        return 0
    }

    # The image carries its own copy of the policy. An invalid policy never
    # fails the build: warn here; at boot apply logs the error, writes
    # nothing and the kernel defaults stay.
    if [[ -e $_policy ]]; then
        if ! "$_bin" check "$_policy" >&2; then
            dwarn "ttm-autosize: $_policy is invalid (see above); at boot it will be reported and the kernel defaults kept. Fix it and rebuild the image (dracut -f)."
        fi
        inst_simple "$_policy" /etc/ttm-autosize.toml
    fi

    if dracut_module_included "systemd"; then
        inst_simple "$moddir/ttm-autosize.service" "$systemdsystemunitdir/ttm-autosize.service"
        inst_dir "$systemdutildir/system-generators"
        ln_r @BINDIR@/ttm-autosize "$systemdutildir/system-generators/ttm-autosize-generator"
    else
        inst_hook cmdline 00 "$moddir/ttm-autosize-apply.sh"
    fi
}
