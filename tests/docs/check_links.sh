#!/usr/bin/env bash
# Every relative link in the documentation leads somewhere: the file exists, and a
# #fragment names a heading of that file (GitHub's anchors: lower case, punctuation
# dropped, spaces as hyphens). Run on the source tree and on the installed docs directory
# (/usr/share/doc/tlsrelay: README.md, docs/, examples/), whose layout must keep the links.
#
#   check_links.sh ROOT [FILE...]    FILE relative to ROOT; default README.md, docs/*.md and
#                                    the READMEs of integration/ and bench/ where they exist
# Exit status: 0 every link resolves, 1 otherwise (each broken link on one line).
set -euo pipefail

root=${1:?root directory}
shift
cd "$root"
if [ $# -eq 0 ]; then
  set -- README.md docs/*.md
  for f in integration/README.md bench/README.md; do
    [ -f "$f" ] && set -- "$@" "$f"
  done
fi

# The anchors of a Markdown file, one per line.
anchors() {
  grep -E '^#{1,6} ' "$1" | sed -E 's/^#+ +//' | tr 'A-Z' 'a-z' |
    sed -E 's/[^a-z0-9 _-]//g; s/ /-/g'
}

broken=0
checked=0
for file in "$@"; do
  [ -f "$file" ] || { echo "$file: missing"; broken=$((broken + 1)); continue; }
  dir=$(dirname "$file")
  # Links outside code blocks and code spans: ](target) or ](target "title").
  while IFS=: read -r line target; do
    target=${target%% *}
    case $target in
    http://* | https://* | mailto:* | file://*) continue ;;
    esac
    path=${target%%#*}
    fragment=""
    [ "$path" != "$target" ] && fragment=${target#*#}
    resolved=$file
    [ -n "$path" ] && resolved="$dir/$path"
    checked=$((checked + 1))
    if [ ! -e "$resolved" ]; then
      echo "$file:$line: $target: no such file ($resolved)"
      broken=$((broken + 1))
    elif [ -n "$fragment" ] && [[ $resolved == *.md ]] &&
      ! anchors "$resolved" | grep -qxF -- "$fragment"; then
      echo "$file:$line: $target: $resolved has no heading with the anchor #$fragment"
      broken=$((broken + 1))
    fi
  done < <(awk '/^```/ { code = !code; next } !code { gsub(/`[^`]*`/, ""); print NR ":" $0 }' "$file" |
    grep -oE '^[0-9]+:|\]\([^)]+\)' | awk '/^[0-9]+:$/ { n = $0; next } { print n substr($0, 3, length($0) - 3) }')
done
echo "$checked links checked in $# files, $broken broken"
[ "$broken" -eq 0 ]
