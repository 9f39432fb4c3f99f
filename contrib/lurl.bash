# bash completion for lurl(1), installed as
# share/bash-completion/completions/lurl.  Options (as lua5.4's, plus
# lurl's), then Lua scripts; after the script, any file (its arguments).
_lurl() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} i
  case $prev in
    -e) return 0 ;;                     # Lua code: nothing to offer
    -l) COMPREPLY=($(compgen -W "http http.assert json" -- "$cur")); return 0 ;;
  esac
  # Past the script (or "--"), words are the script's arguments.
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      -e | -l) ((i++)) ;;
      --) break ;;
      -?*) ;;
      *) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
    esac
  done
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "-e -l -i -v -E -W --trace -h --help --version -- -" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -X '!*.lua' -- "$cur") $(compgen -d -- "$cur"))
  fi
}
complete -o filenames -F _lurl lurl
