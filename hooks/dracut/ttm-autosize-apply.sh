#!/bin/sh
# SPDX-License-Identifier: MIT
#
# dracut `cmdline` hook, priority 00 (shell initrd only). Sourced by dracut's
# init.sh before the pre-udev hooks and before udevd starts, which reads
# modprobe.d only once. Sourced, so: no `exit`, no variables left behind.
# `ttm-autosize apply` always exits 0 and never waits; it logs to /dev/kmsg.

if [ -x /usr/bin/ttm-autosize ]; then
    /usr/bin/ttm-autosize apply || :
else
    echo "<4>ttm-autosize: /usr/bin/ttm-autosize is missing from the initramfs; kernel defaults stay" > /dev/kmsg 2>/dev/null || :
fi
