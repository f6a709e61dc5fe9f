# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for ferryctl: verbs, domain names (asked of the agent
# named by -c, or the default one), and flags. migrate's and drain's flags
# come from `ferryctl migrate --help`, so they follow agent/migparams.def.

_ferryctl_domains()
{
    # $1: the -c argument, if any
    ferryctl ${1:+-c "$1"} list --all --json 2>/dev/null |
        sed -n 's/.*"name" *: *"\([^"]*\)".*/\1/p'
}

# Files, with bash-completion's helper when it is loaded (it quotes and
# filters better), plain compgen otherwise.
_ferryctl_files()
{
    if declare -F _filedir >/dev/null; then
        _filedir "$@"
    else
        COMPREPLY=($(compgen ${1:+-d} -f -- "$cur"))
    fi
}

_ferryctl()
{
    # Works with or without the bash-completion package: COMP_WORDS split at
    # COMP_WORDBREAKS would cut a URI at its ':', so join them back when
    # bash-completion's _init_completion is there to do it.
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion -n : || return
    else
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur="${COMP_WORDS[COMP_CWORD]}"
        prev="${COMP_WORDS[COMP_CWORD - 1]}"
    fi

    local verbs="define undefine start destroy suspend resume list domstate dominfo
        domblklist dumpxml capabilities qemu-monitor-command migrate domjobinfo domjobabort
        migrate-postcopy migrate-setspeed migrate-getspeed migrate-setspeed-disk
        migrate-getspeed-disk migrate-setmaxdowntime
        migrate-getmaxdowntime migrate-compcache events vol-list vol-delete maintenance drain
        domxml-from-native domxml-to-native shutdown reboot reset console domiflist domifaddr
        domblkinfo vncdisplay help"
    local uris="ferry+tcp:// ferry+tls:// ferry://"
    local i verb="" uri="" verb_at=0
    for ((i = 1; i < cword; i++)); do
        case "${words[i]}" in
        -c | --connect | --tls-dir)
            [[ ${words[i]} != --tls-dir ]] && uri="${words[i + 1]}"
            ((i++))
            ;;
        -*) ;;
        *)
            verb="${words[i]}"
            verb_at=$i
            break
            ;;
        esac
    done

    case "$prev" in
    -c | --connect)
        COMPREPLY=($(compgen -f -- "$cur") $(compgen -W "$uris" -- "$cur"))
        return
        ;;
    --tls-dir)
        _ferryctl_files -d
        return
        ;;
    --domain)
        [[ -n $verb ]] && COMPREPLY=($(compgen -W "$(_ferryctl_domains "$uri")" -- "$cur"))
        return
        ;;
    --desturi)
        COMPREPLY=($(compgen -W "$uris" -- "$cur"))
        return
        ;;
    esac

    if [[ -z $verb ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "-c --connect --tls-dir --debug --help --version" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
        fi
        return
    fi

    local flags=""
    case "$verb" in
    migrate | drain)
        flags="$(ferryctl migrate --help 2>/dev/null | grep -oE -- '--[a-z0-9-]+[*]?' | grep -v '[*]$' | sort -u) --verbose --json"
        [[ $verb == drain ]] && flags="$flags --max-parallel --keep-going"
        ;;
    list) flags="--all --inactive --name --uuid --json" ;;
    domstate) flags="--domain --reason --json" ;;
    migrate-setspeed) flags="--domain --bandwidth --json" ;;
    migrate-setmaxdowntime) flags="--domain --downtime --json" ;;
    dumpxml) flags="--inactive" ;;
    domblklist) flags="--details --inactive --json" ;;
    domjobinfo) flags="--completed --json" ;;
    qemu-monitor-command) flags="--hmp" ;;
    events) flags="--domain --count --timeout --since --json" ;;
    migrate-compcache) flags="--size" ;;
    *) flags="--json" ;;
    esac
    flags="$flags --help" # every verb's usage
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
        return
    fi
    case "$verb" in
    define | domxml-from-native | domxml-to-native)
        _ferryctl_files
        ;;
    maintenance)
        COMPREPLY=($(compgen -W "on off" -- "$cur"))
        ;;
    drain)
        COMPREPLY=($(compgen -W "$uris" -- "$cur"))
        ;;
    help)
        ((cword == verb_at + 1)) && COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
        ;;
    vol-delete | list | capabilities | vol-list | events) ;;
    *)
        # The domain is the verb's first argument; migrate's second is the
        # destination.
        local args=0
        for ((i = verb_at + 1; i < cword; i++)); do
            [[ ${words[i]} != -* ]] && ((args++))
        done
        if ((args == 0)); then
            COMPREPLY=($(compgen -W "$(_ferryctl_domains "$uri")" -- "$cur"))
        elif [[ $verb == migrate ]] && ((args == 1)); then
            COMPREPLY=($(compgen -W "$uris" -- "$cur"))
        fi
        ;;
    esac
} &&
    complete -F _ferryctl ferryctl
