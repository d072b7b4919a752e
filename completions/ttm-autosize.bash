# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# bash completion for ttm-autosize(8). The commands and options are those of
# `ttm-autosize --help` and `ttm-autosize COMMAND --help`; the packaging test
# tests/packaging/completions fails when the two disagree. Self-contained:
# it needs only bash, not the functions of the bash-completion package.

_ttm_autosize() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=${COMP_WORDS[COMP_CWORD - 1]}
    local command="" word i
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        case $word in
            apply | plan | check | status | carveout) command=$word; break ;;
        esac
    done
    COMPREPLY=()

    # The value of the option before the cursor.
    case $command:$prev in
        plan:--policy | status:--output)
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            [[ $command:$prev == plan:--policy ]] &&
                mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -W none -- "$cur")
            return
            ;;
        plan:--amd-gpu)
            mapfile -t COMPREPLY < <(compgen -W "yes no" -- "$cur")
            return
            ;;
        plan:--ram | plan:--installed | plan:--kernel | plan:--cmdline | plan:--page-size)
            return
            ;;
        status:--format)
            mapfile -t COMPREPLY < <(compgen -W "text json prometheus" -- "$cur")
            return
            ;;
        carveout:--set | plan:--carveout)
            # or a size that `ttm-autosize carveout` lists, e.g. 512MiB
            mapfile -t COMPREPLY < <(compgen -W minimum -- "$cur")
            return
            ;;
    esac

    local words
    case $command in
        "") words="apply plan check status carveout --help --version" ;;
        apply) words="" ;;
        plan) words="--ram --installed --carveout --amd-gpu --policy --kernel --cmdline --page-size --json" ;;
        check)
            # one optional policy file, or --files
            if [[ $cur == -* ]]; then
                mapfile -t COMPREPLY < <(compgen -W "--files" -- "$cur")
            else
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            fi
            return
            ;;
        status) words="--json --format --output" ;;
        carveout) words="--set" ;;
    esac
    mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}

complete -F _ttm_autosize -o filenames ttm-autosize
