#!/bin/sh
# SPDX-License-Identifier: MIT
#
# dracut `cmdline` hook, priority 00 (shell initrd only). Sourced by dracut's
# init.sh before the pre-udev hooks and before udevd starts, which reads
# modprobe.d only once. Sourced, so: no `exit`, no variables left behind.
# `ttm-autosize apply` always exits 0 and never waits; it logs to /dev/kmsg.

if [ -x @BINDIR@/ttm-autosize ]; then
    @BINDIR@/ttm-autosize apply || :
else
    echo "<4>ttm-autosize: @BINDIR@/ttm-autosize is missing from the initramfs; kernel defaults stay" > /dev/kmsg 2>/dev/null || :
fi
