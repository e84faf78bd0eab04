#!/usr/bin/env bash
# Compile every Coq file under proofs/coq and audit it:
#   1. no Admitted/admit/Axiom/Parameter/Conjecture/Hypothesis (plain grep, comments included);
#   2. every .v file compiles with coqc (in a temporary directory: the tree stays clean);
#   3. `Print Assumptions` on every Theorem/Lemma/Corollary reports nothing but the axioms the
#      standard library's real numbers rest on.
# Usage (from anywhere): bash proofs/coq/check.sh [-v]   Exit status 0 iff all checks pass;
#   -v also prints the raw `Print Assumptions` output of the main theorems.
set -euo pipefail
verbose=0; [ "${1-}" = "-v" ] && verbose=1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
start=$(date +%s)

command -v coqc >/dev/null 2>&1 || { echo "check.sh: coqc not found (apt-get install -y coq)" >&2; exit 1; }
shopt -s nullglob
files=(*.v)
[ ${#files[@]} -gt 0 ] || { echo "check.sh: no .v files in $here" >&2; exit 1; }
echo "coq: $(coqc --version | head -n1)"

# 1. Forbidden vernacular (case-sensitive whole words; also escape hatches that switch off
#    the kernel's checks).
forbidden='\b(Admitted|admit|give_up|Axiom|Axioms|Parameter|Parameters|Conjecture|Hypothesis|Hypotheses)\b|Unset (Guard|Positivity|Universe) Checking|Type-In-Type|bypass_check'
if grep -nE "$forbidden" "${files[@]}"; then
  echo "check.sh: FAIL: forbidden command above (no admits, axioms or hypotheses allowed)" >&2
  exit 1
fi

# 2. Compile in dependency order in a temporary copy.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp "${files[@]}" "$tmp/"
cd "$tmp"
read -r -a order <<< "$(coqdep -sort -Q . "" "${files[@]}")"
for f in "${order[@]}"; do
  echo "coqc $f"
  coqc -Q . "" "$f"
done

# 3. Print Assumptions.  All theorems, lemmas and corollaries are packed into one list so that a
#    single traversal covers them; the main theorems are then printed one by one.
audit=Audit__.v
names=()
items=()
for f in "${order[@]}"; do
  mod="${f%.v}"
  while read -r name; do
    items+=("existT (fun P : Prop => P) _ $mod.$name")
    names+=("$mod.$name")
  done < <(grep -oE '^[[:space:]]*(Theorem|Lemma|Corollary|Proposition|Fact|Remark)[[:space:]]+[A-Za-z0-9_'"'"']+' "$f" \
           | awk '{print $2}')
done
{
  echo "Require Import List. Import ListNotations."
  for f in "${order[@]}"; do echo "Require ${f%.v}."; done
  echo "Definition audit__ : list {P : Prop & P} := ["
  for ((k = 0; k < ${#items[@]}; k++)); do
    sep=";"; [ "$k" -eq $(( ${#items[@]} - 1 )) ] && sep=""
    echo "  ${items[$k]}$sep"
  done
  echo "]."
  echo "Print Assumptions audit__."
} > "$audit"
main=(Theorem1.interpolation Theorem1.interpolation_weak Theorem1.lemma1 DepthK.deep_equals_shallow)
for m in "${main[@]}"; do
  [[ " ${names[*]} " == *" $m "* ]] || { echo "check.sh: FAIL: main theorem $m missing" >&2; exit 1; }
  echo "Print Assumptions $m." >> "$audit"
done
out="$(coqc -Q . "" "$audit")"

allowed_re='^(ClassicalDedekindReals\.sig_forall_dec|ClassicalDedekindReals\.sig_not_dec|FunctionalExtensionality\.functional_extensionality_dep|Rdefinitions\.[A-Za-z0-9_.]+|Raxioms\.[A-Za-z0-9_.]+)$'
reports=0; bad=0; seen=()
while IFS= read -r line; do
  case "$line" in
    "Closed under the global context") reports=$((reports+1)); continue ;;
    "Axioms:") reports=$((reports+1)); continue ;;
    ""|" "*|$'\t'*) continue ;;   # continuation lines (the types of the axioms)
  esac
  if [[ "$line" == *: && "$line" != *" : "* ]]; then
    echo "check.sh: FAIL: unexpected Print Assumptions section: $line" >&2; bad=1; continue
  fi
  name="${line%% *}"
  if [[ "$name" =~ $allowed_re ]]; then
    [[ " ${seen[*]-} " == *" $name "* ]] || seen+=("$name")
  else
    echo "check.sh: FAIL: assumption outside the standard reals: $name" >&2; bad=1
  fi
done <<< "$out"
expected=$(( 1 + ${#main[@]} ))
if [ "$reports" -ne "$expected" ]; then
  echo "check.sh: FAIL: expected $expected Print Assumptions reports, got $reports" >&2; bad=1
fi
[ "$bad" -eq 0 ] || { printf '%s\n' "$out" >&2; exit 1; }

if [ "$verbose" -eq 1 ]; then
  echo "--- raw Print Assumptions (all results together, then ${main[*]}) ---"
  printf '%s\n' "$out"
  echo "---"
fi
echo "Print Assumptions of ${main[*]} (each) and of all ${#names[@]} results (together):"
echo "  ${seen[*]-Closed under the global context}"
echo "OK: ${#order[@]} files compiled, ${#names[@]} results audited, no admits or extra axioms ($(( $(date +%s) - start ))s)"
