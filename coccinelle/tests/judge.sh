# SPDX-License-Identifier: GPL-2.0
# Sourced by mutate.sh and api_mutate.sh.

# Write file $2 as file $1 with the text $FROM replaced by $TO; fails
# when $1 does not contain $FROM (the mutation no longer applies).
make_mutant() {
	python3 - "$1" "$2" <<'PY'
import os, sys
s = open(sys.argv[1]).read()
f, t = os.environ['FROM'], os.environ['TO']
if f not in s:
    sys.exit(1)
open(sys.argv[2], 'w').write(s.replace(f, t))
PY
}

# The TAP line of mutation $1
# (named $2, made by replacing the text $3), whose mutant is file $4 and
# whose test run's TAP output is file $5.  Returns 0 when some test
# failed on the mutant (the tests can tell), 1 otherwise.
judge_mutant() {
	local n=$1 name=$2 from=$3 mutant=$4 out slug broken
	slug="tests_fail_when_$(echo "$name" | tr -c 'a-zA-Z0-9\n' _)"
	if [ ! -f "$mutant" ]; then
		echo "not ok $n - $slug"
		echo "# its text is no longer in the script: $from"
		return 1
	fi
	out=$(cat "$5")
	broken=$(echo "$out" | grep -c '^not ok')
	if [ "$broken" -gt 0 ]; then
		echo "ok $n - $slug"
		echo "# caught by $broken test(s): $(echo "$out" | sed -n 's/^not ok [0-9]* - //p' | paste -sd, -)"
		return 0
	fi
	echo "not ok $n - $slug"
	echo "# no test fails when $name"
	return 1
}
