# SPDX-License-Identifier: GPL-2.0
# Progress and failure lines of the project's scripts (sourced): one line a
# step; a failure names the command that reproduces it alone.  LOG_PREFIX
# names the script ("lab", "audit"); STEP_FD is where steps go (1).  In a
# lab run each step is also timed into its results (steps.tsv: the time a
# step began, the step), which its summary reads.

step() {
	printf '%s: %s\n' "${LOG_PREFIX:-lab}" "$*" >&"${STEP_FD:-1}"
	[ -z "${LAB_RESULTS:-}" ] || printf '%s\t%s\n' "$(date +%s)" "$*" >>"$LAB_RESULTS/steps.tsv"
}
die() {
	printf '%s: error: %s\n' "${LOG_PREFIX:-lab}" "$1" >&2
	[ $# -gt 1 ] && printf '%s: to retry this step alone: %s\n' "${LOG_PREFIX:-lab}" "$2" >&2
	exit 1
}
