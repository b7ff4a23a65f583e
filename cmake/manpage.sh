#!/bin/sh
# Writes the man page of signet from the binary's own --help texts: the top-level help (options,
# the list of subcommands, the exit status), then every subcommand's (and sub-subcommand's) help
# as its own section, so the page lists every command the binary has.
# Usage: manpage.sh SIGNET_BINARY OUT
set -eu
bin=$1
out=$2
# A sanitizer build's leak report at exit would fail the build over a help text.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

# The names under "Subcommands:" in a help text on stdin.
subcommands() { awk '/^Subcommands:$/ { s = 1; next } s && /^$/ { exit } s && /^  [a-z]/ { print $1 }'; }

# One help text (stdin) as roff. Its description and usage become paragraphs, each entry of its
# "Options:" / "Positionals:" / "Subcommands:" lists a tagged paragraph, and its footer (the text
# after the lists) goes to FOOTER (a file) for the caller to place.
to_roff() {
  awk -v footer="$1" '
    function esc(s) {
      gsub(/\\/, "\\e", s); gsub(/-/, "\\-", s)
      if (s ~ /^[.\047]/) s = "\\&" s
      return s
    }
    # "--keys TEXT REQUIRED": the flag names bold, the value type plain.
    function tag(s,   i, n, w, r) {
      n = split(s, w, " ")
      r = "\\fB" esc(w[1]) "\\fR"
      for (i = 2; i <= n; i++) r = r " " esc(w[i])
      return r
    }
    BEGIN { state = "desc" }
    state == "desc" && /^Usage: / { sub(/^Usage: /, ""); print ".PP"; print "Usage: \\fB" esc($0) "\\fR"; state = "gap"; next }
    state == "desc" && /^  / { print ".nf"; print "  " esc(substr($0, 3)); print ".fi"; next }
    state == "desc" { print esc($0); next }
    /^(Options|Positionals|Subcommands):$/ { print ".PP"; print "\\fI" $0 "\\fR"; state = "list"; next }
    state == "list" && /^$/ { state = "gap"; next }
    # An entry: the name padded to column 30, then its description (on the next line when long).
    state == "list" && /^  [^ ]/ {
      if (length($0) > 30 && substr($0, 30, 1) == " " && substr($0, 31, 1) != " ") {
        name = substr($0, 3, 27); desc = substr($0, 31)
      } else {
        name = substr($0, 3); desc = ""
      }
      sub(/ +$/, "", name)
      print ".TP"; print tag(name); if (desc != "") print esc(desc)
      next
    }
    # A continuation (a list inside a description): kept as laid out.
    state == "list" { sub(/^ +/, ""); print ".nf"; print esc($0); print ".fi"; next }
    state == "gap" && /^$/ { next }
    state == "gap" || state == "footer" { print $0 > footer; state = "footer"; next }
  '
}

version=$("$bin" --version | head -n 1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
top=$("$bin" --help)
summary=$(printf '%s\n' "$top" | head -n 1 | sed 's/^Signet: //')
{
  # printf, not echo: dash's echo would turn the roff escapes \f... into control characters.
  line() { printf '%s\n' "$@"; }
  line ".\\\" Generated from \`signet --help\` by cmake/manpage.sh: do not edit."
  line ".TH SIGNET 1 \"\" \"$version\" \"User Commands\""
  line ".SH NAME" "signet \\- $summary"
  line ".SH SYNOPSIS" "\\fBsignet\\fR \\fICOMMAND\\fR [\\fIOPTIONS\\fR]" ".br" "\\fBsignet \\-\\-version\\fR [\\fB\\-\\-json\\fR]"
  line ".SH DESCRIPTION"
  printf '%s\n' "$top" | to_roff "$tmp/footer"
  line ".PP"
  grep -v '^Exit status:' "$tmp/footer" | sed 's/-/\\-/g' || true
  line ".SH COMMANDS"
  for cmd in $(printf '%s\n' "$top" | subcommands); do
    sub=$("$bin" "$cmd" --help)
    line ".SS \"signet $cmd\""
    printf '%s\n' "$sub" | to_roff "$tmp/sub_footer"
    for inner in $(printf '%s\n' "$sub" | subcommands); do
      line ".SS \"signet $cmd $inner\""
      "$bin" "$cmd" "$inner" --help | to_roff "$tmp/sub_footer"
    done
  done
  line ".SH \"EXIT STATUS\""
  grep '^Exit status:' "$tmp/footer" | sed -e 's/^Exit status: //' -e 's/-/\\-/g'
  line ".PP" "The full table, with what each command returns, is docs/exit\\-codes.md in the source tree."
  line ".SH \"SEE ALSO\""
  line "\\fBsignet \\-\\-version\\fR for the build (commit, CPU target, kernels)." ".br"
  line "The documentation in the source tree: README.md and docs/."
} >"$tmp/signet.1"
mv "$tmp/signet.1" "$out"
