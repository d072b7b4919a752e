#!/bin/bash
# SPDX-License-Identifier: MIT
# Boot-test probe module (tests only): add with --add ttm-probe.

# called by dracut
check() {
    # 255: only when asked for with --add.
    return 255
}

# called by dracut
depends() {
    return 0
}

# called by dracut
# shellcheck disable=SC2154 # moddir is set by dracut
install() {
    inst_multiple cat sleep dmesg grep modprobe sync
    inst_script "$moddir/ttm-probe" /usr/libexec/ttm-probe
    # initqueue/settled hooks run while dracut waits for the (never
    # appearing) root device, in shell and systemd initrds alike.
    inst_hook initqueue/settled 99 "$moddir/ttm-probe-hook.sh"
}
