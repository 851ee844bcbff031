# SPDX-License-Identifier: GPL-2.0
# The results of a lab run (sourced by test/lab.sh): a directory of its own,
# build/results/<verb>-<date>-<pid>/, with one TAP file per step
# (NNN-<step>.tap, numbered from 1, its plan last), what the step's boots
# leave (console and plugin logs) and its checks' own logs, and steps.tsv
# (when each step began).  No other run writes there; a lab started by this
# one (the backports' checks) writes into the same directory (LAB_RESULTS
# is exported).  test/tap.py summarizes it.  The sources, trees, kernels and
# suites under build/ are shared by all runs.

RESULTS_KEEP=${RESULTS_KEEP:-20}

# Opens the run's directory, unless a parent run opened one; the oldest
# runs beyond RESULTS_KEEP are removed.  The run's summary is printed when
# it ends, also when a step dies.
results_open() {
	local old
	[ -z "${LAB_RESULTS:-}" ] || return 0
	mkdir -p "$B/results"
	find "$B/results" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' |
		sort -rn | tail -n +"$RESULTS_KEEP" | cut -d' ' -f2- |
		while read -r old; do rm -rf "$old"; done
	LAB_RESULTS=$B/results/$1-$(date +%Y%m%d-%H%M%S)-$$
	mkdir -p "$LAB_RESULTS"
	ln -sfn "${LAB_RESULTS##*/}" "$B/results/.latest-$$" &&
		mv -T "$B/results/.latest-$$" "$B/results/latest"
	LAB_RESULTS_BY=$BASHPID
	export LAB_RESULTS LAB_RESULTS_BY
	trap results_exit EXIT
}

# At the exit of the process that opened the run: if it died before its
# summary, the summary still comes (and the exit status stays a failure).
results_exit() {
	local rc=$?
	[ "$LAB_RESULTS_BY" = "$BASHPID" ] && [ -z "${RESULTS_DONE:-}" ] || return 0
	[ "$rc" = 0 ] || echo "lab: the run stopped (exit status $rc) before its end; what it has:"
	summary || true
	exit $((rc ? rc : 1))
}

# A new step file for step NAME, numbered after the steps started so far;
# prints its path.  Steps that run side by side get theirs, in order,
# before they start.
tap_new() {
	local n f
	n=$(find "$LAB_RESULTS" -maxdepth 1 -name '[0-9][0-9][0-9]-*.tap' | wc -l)
	f=$LAB_RESULTS/$(printf '%03d' $((n + 1)))-$1.tap
	echo "TAP version 13" >"$f"
	printf '%s\tstep %s\n' "$(date +%s)" "${f##*/}" >>"$LAB_RESULTS/steps.tsv"
	echo "$f"
}

# Ends the current step (its plan) and starts step NAME: the tap_ lines
# that follow go to its file, TAP_FILE.
tap_step() {
	tap_end
	TAP_FILE=$(tap_new "$1")
	echo "# step: ${TAP_FILE##*/}"
}

# The number of results in the current step so far.
tap_count() { grep -cE '^(ok|not ok) [0-9]' "$TAP_FILE" || true; }

# tap_ ok|fail NAME [DIAG...]: one result of the current step, its
# diagnostics before it, to the step's file and to stdout.
tap_() {
	local verdict=$1 name=$2 n d
	shift 2
	[ -n "${TAP_FILE:-}" ] || die "tap_ $verdict $name: no step started (tap_step)"
	case $verdict in
	ok) verdict="ok" ;;
	fail) verdict="not ok" ;;
	*) die "tap_: '$verdict' is not ok or fail" ;;
	esac
	n=$(($(tap_count) + 1))
	{
		for d in "$@"; do
			printf '%s\n' "$d" | sed 's/^/# /'
		done
		echo "$verdict $n - $name"
	} | tee -a "$TAP_FILE"
}

# The plan of the current step, if it has none yet.
tap_end() {
	[ -n "${TAP_FILE:-}" ] && [ -f "$TAP_FILE" ] || return 0
	grep -q '^1\.\.' "$TAP_FILE" || echo "1..$(tap_count)" | tee -a "$TAP_FILE"
	TAP_FILE=
}

# The run's summary (test/tap.py): one line per step, where the time went,
# a line per boot, the failures, "N passed, N failed"; exit 1 on a failure.
# A lab started by another only ends its step: the summary is its parent's.
summary() {
	tap_end >/dev/null
	[ "$LAB_RESULTS_BY" = "$BASHPID" ] || return 0
	RESULTS_DONE=1
	python3 "$TOP/test/tap.py" summary "$LAB_RESULTS"
}
