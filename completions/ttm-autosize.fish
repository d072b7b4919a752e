# SPDX-License-Identifier: MIT
# fish completion for ttm-autosize(8). The commands and options are those of
# `ttm-autosize --help` and `ttm-autosize COMMAND --help`; the packaging test
# tests/packaging/completions fails when the two disagree.

set -l commands apply plan check status carveout

complete -c ttm-autosize -f
complete -c ttm-autosize -n "not __fish_seen_subcommand_from $commands" -l help -d 'Show the usage'
complete -c ttm-autosize -n "not __fish_seen_subcommand_from $commands" -l version -d 'Show the version'

complete -c ttm-autosize -n "not __fish_seen_subcommand_from $commands" -a apply -d 'Decide for this machine and write /run/modprobe.d (boot use)'
complete -c ttm-autosize -n "not __fish_seen_subcommand_from $commands" -a plan -d 'Show the decision for this machine or a hypothetical one'
complete -c ttm-autosize -n "not __fish_seen_subcommand_from $commands" -a check -d 'Validate a policy (default: the policy files merged)'
complete -c ttm-autosize -n "not __fish_seen_subcommand_from $commands" -a status -d "This boot's decision next to what the kernel has now"
complete -c ttm-autosize -n "not __fish_seen_subcommand_from $commands" -a carveout -d "The firmware's UMA carve-out sizes (Linux 7.0 and later)"

complete -c ttm-autosize -n '__fish_seen_subcommand_from plan' -l ram -x -d 'MemTotal to plan for, e.g. 125GiB'
complete -c ttm-autosize -n '__fish_seen_subcommand_from plan' -l installed -x -d 'Installed RAM, which the profiles are keyed on'
complete -c ttm-autosize -n '__fish_seen_subcommand_from plan' -l carveout -x -a minimum -d 'What if the BIOS carve-out were this size'
complete -c ttm-autosize -n '__fish_seen_subcommand_from plan' -l amd-gpu -x -a 'yes no' -d 'Whether the machine has an AMD GPU'
complete -c ttm-autosize -n '__fish_seen_subcommand_from plan' -l policy -r -F -a none -d 'Policy file to use ("none": the built-in default)'
complete -c ttm-autosize -n '__fish_seen_subcommand_from plan' -l kernel -x -d 'Kernel release, e.g. 6.1.0-31-amd64'
complete -c ttm-autosize -n '__fish_seen_subcommand_from plan' -l cmdline -x -d 'Kernel command line'
complete -c ttm-autosize -n '__fish_seen_subcommand_from plan' -l page-size -x -d 'Page size in bytes'
complete -c ttm-autosize -n '__fish_seen_subcommand_from plan' -l json -d 'One JSON object instead of a table'

complete -c ttm-autosize -n '__fish_seen_subcommand_from check' -F -d 'Policy file'
complete -c ttm-autosize -n '__fish_seen_subcommand_from check' -l files -d 'Print the policy files the next boot reads'

complete -c ttm-autosize -n '__fish_seen_subcommand_from status' -l json -d 'One JSON object (same as --format json)'
complete -c ttm-autosize -n '__fish_seen_subcommand_from status' -l format -x -a 'text json prometheus' -d 'Output format'
complete -c ttm-autosize -n '__fish_seen_subcommand_from status' -l output -r -F -d 'Write the report to FILE atomically'

complete -c ttm-autosize -n '__fish_seen_subcommand_from carveout' -l set -x -a minimum -d "Choose the next boot's carve-out: minimum or a size listed"
