# SPDX-License-Identifier: GPL-2.0
# make mail and its checks (sourced by test/lab.sh).

# A throw-away git repository of KVER's tree as Debian ships it, the base
# the mails are made on and applied to again; rebuilt when the tree changes.
mail_base() {
	local base=$1 full=$2 stamp
	stamp="$KVER $full $(ksrc) $(cat "$(ksrc)/.lab-unpacked" 2>/dev/null || true)"
	[ "$(cat "$base/.git/lab-stamp" 2>/dev/null)" != "$stamp" ] || return 0
	step "mail: committing the Linux $full tree to a throw-away git repository ($base)"
	rm -rf "$base" && mkdir -p "$base"
	rsync -a --exclude=/.pc --exclude=/.lab-unpacked --exclude='/lab-obj-*' --exclude=.git "$(ksrc)/" "$base/"
	{
		git -C "$base" init -q &&
			git -C "$base" config gc.auto 0 &&
			git -C "$base" add -A -f &&
			git -C "$base" -c user.name=lab -c user.email=lab@localhost \
				commit -q -m "Linux $full" &&
			git -C "$base" tag lab-base
	} >"$B/logs/mail-base-$KVER.log" 2>&1 ||
		die "could not commit the base tree (see $B/logs/mail-base-$KVER.log)" "test/lab.sh mail"
	echo "$stamp" >"$base/.git/lab-stamp"
}

# get_maintainer.pl's options for To: (maintainers) and Cc: (reviewers
# and lists), from the files a patch writes only: the throw-away
# repository has no history (no --git, no --fixes), and the K: keywords of
# MAINTAINERS match the commit message too (the mm/gup patch names riscv
# in its list of architectures).  b4 runs it over each patch of a set, the
# checks over the set's files.
MAIL_GM_OPTS="--no-git --no-git-fallback --no-rolestats --nofixes --no-keywords"
MAIL_GM_TO="--nol --nor"
MAIL_GM_CC="--nom"

# `make mail`: KVER's series as mails, a set per destination
# (test/mail/sets.tsv), each written by b4 0.12 with its cover letter and
# To/Cc from the tree's get_maintainer.pl over the set's own patches, in
# outgoing/v$V/NN-<set>/ (a backport's in outgoing/<KVER>/v$V/; or
# MAIL_OUT), with a README.md that says where each goes and in what order.
# It never sends anything.  The trailers come from the submitter's git
# configuration: each `git config --add fuselab.trailer "Tag: value"`,
# then Signed-off-by: user.name <user.email>.
cmd_mail() {
	local v=${V:-1} out name email full base work tmp t bad i set prefix cover after paths n=0
	local trailers=()
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "V=$v: a series version is a number from 1"
	name=$(git config user.name) && email=$(git config user.email) ||
		die "who submits? git config user.name and user.email sign the patches off" \
		    "git config --global user.name 'Your Name'; git config --global user.email you@example.org"
	while IFS= read -r t; do
		[[ $t =~ ^[A-Z][A-Za-z-]*:\ [^\ ].*$ ]] ||
			die "git config fuselab.trailer '$t' is not 'Tag: value'" "git config --get-all fuselab.trailer"
		trailers+=(--trailer "$t")
	done < <(git config --get-all fuselab.trailer || true)
	trailers+=(--trailer "Signed-off-by: $name <$email>")
	bad=$(mail_sets check "$KVER" 2>&1) && [ -z "$bad" ] ||
		die "test/mail/sets.tsv and patches.tsv do not fit ${QUILT_SERIES#$TOP/}: $bad" \
		    "python3 test/mail/sets.py check $KVER"
	out=${MAIL_OUT:-$TOP/outgoing/${KTAG}v$v}
	full=$(tree_version "$(ksrc)" "$KVER") || exit 1
	base=$B/mail/$KVER-base
	mail_base "$base" "$full"
	# the patches with the submitter's trailers
	tmp=$B/mail/$KVER-patches
	rm -rf "$tmp" && mkdir -p "$tmp"
	for t in $(series_patches); do
		git interpret-trailers "${trailers[@]}" "$QUILT_PATCHES/$t" >"$tmp/$t" ||
			die "could not add trailers to $t" "test/lab.sh mail"
	done
	work=$B/mail/$KVER-work
	mail_clone "$base" "$work"
	mail_b4_config "$work" "$name" "$email"
	: >"$B/logs/mail-$KVER.log"
	rm -f "$B/mail/$KVER-sent.log"
	rm -rf "$out.tmp" && mkdir -p "$out.tmp"
	while IFS=$'\t' read -r i set prefix cover after paths <&3; do
		mail_set "$work" "$tmp" "$out.tmp/$i-$set" "$set" "$prefix" "$cover" "$after" "$v" "$full"
		n=$((n + 1))
	done 3< <(mail_sets list "$KVER")
	mail_sets readme "$KVER" "$out.tmp" || die "could not write $out.tmp/README.md"
	rm -rf "$out" && mkdir -p "${out%/*}" && mv "$out.tmp" "$out"
	step "mail: $n set(s) of Linux $full in $out, to send in the order of $out/README.md (nothing sent)"
}

mail_sets() { python3 "$TOP/test/mail/sets.py" "$@"; }

# A clone $2 of the base $1, as cloned: made once per base, then only
# switched back to lab-base (a new clone, or removing the old tree, takes
# minutes while kernels build), its branches and anything b4 left gone.
mail_clone() {
	local base=$1 dir=$2 id b
	id=$(git -C "$base" rev-parse lab-base) || die "no base $base" "test/lab.sh mail"
	if [ "$(git -C "$dir" config lab.base 2>/dev/null)" != "$id" ]; then
		rm -rf "$dir" && git clone -q --shared "$base" "$dir" &&
			git -C "$dir" config gc.auto 0 && git -C "$dir" config lab.base "$id" ||
			die "could not clone $base into $dir"
	fi
	for b in am cherry-pick rebase; do git -C "$dir" "$b" --abort >/dev/null 2>&1 || true; done
	git -C "$dir" checkout -q -f --detach lab-base && git -C "$dir" clean -q -fdx &&
		git -C "$dir" for-each-ref --format='%(refname)' refs/heads/ |
		while read -r b; do git -C "$dir" update-ref -d "$b" || exit 1; done ||
		die "could not reset $dir to lab-base"
}

# The throw-away repository's own settings for b4: its name, get_maintainer
# with our options, and sendemail.smtpserver: b4 0.12 would send through
# lkml.kernel.org's web endpoint from a kernel tree when it is unset, even
# with -o; the lab's stub sendmail, which b4 send -o never runs, and which
# notes it if it were run (make check's nothing_sent).
mail_b4_config() {
	local work=$1 gm="$1/scripts/get_maintainer.pl $MAIL_GM_OPTS"
	git -C "$work" config user.name "$2" &&
		git -C "$work" config user.email "$3" &&
		git -C "$work" config b4.send-auto-to-cmd "$gm $MAIL_GM_TO" &&
		git -C "$work" config b4.send-auto-cc-cmd "$gm $MAIL_GM_CC" &&
		git -C "$work" config b4.send-no-patatt-sign yes &&
		git -C "$work" config sendemail.smtpserver "$TOP/test/mail/sendmail-stub" ||
		die "could not configure $work for b4"
}

# b4 in the work tree $1, its output in make mail's log; b4 send without
# a network where unshare can make a namespace without one.  b4's own
# state is the lab's (build/mail/b4), not the user's.
mail_b4() {
	local work=$1 net=
	shift
	[ "$1" != send ] || ! unshare -rn true 2>/dev/null || net="unshare -rn"
	echo "+ $net b4 $*" >>"$B/logs/mail-$KVER.log"
	(cd "$work" && export LAB_SENDMAIL_LOG=$B/mail/$KVER-sent.log \
		XDG_DATA_HOME=$B/mail/b4 XDG_CACHE_HOME=$B/mail/b4 && $net b4 "$@") \
		</dev/null >>"$B/logs/mail-$KVER.log" 2>&1
}

# One set: its patches on its base (lab-base, or the set it comes after)
# as branch lab/<set>, then b4: enrolled as b4/<set>, To/Cc collected,
# the cover letter (a single patch: its subject only, so that nothing
# lands below the ---), the prefix and version, and b4 send -o DIR.
mail_set() {
	local work=$1 tmp=$2 dir=$3 set=$4 prefix=$5 cover=$6 after=$7 v=$8 full=$9
	local from=lab-base n text log=$B/logs/mail-$KVER.log
	[ "$after" = - ] || from=lab/$after
	mail_sets patches "$KVER" "$set" >"$tmp/series-$set"
	n=$(wc -l <"$tmp/series-$set")
	step "mail: set $set, $n patch(es) on ${from#lab/}: b4 prep, To/Cc, b4 send -o"
	{
		git -C "$work" checkout -q -b "lab/$set" "$from" &&
			git -C "$work" quiltimport --author "$(git -C "$work" config user.name) <$(git -C "$work" config user.email)>" \
				--patches "$tmp" --series "$tmp/series-$set" &&
			git -C "$work" checkout -q -b "b4/$set" "lab/$set"
	} >>"$log" 2>&1 || die "set $set: git quiltimport failed (see $log)" "test/lab.sh mail"
	mail_b4 "$work" prep -e "$from" && mail_b4 "$work" prep -c ||
		die "set $set: b4 prep failed (see $log)" "test/lab.sh mail"
	if [ "$cover" = - ]; then
		text=$(sed -n 's/^Subject: \(\[[^]]*\] *\)\?//p;T;q' "$tmp/$(cat "$tmp/series-$set")")
	else
		text=$(python3 "$TOP/test/mail/cover.py" "$KVER" "$full" "$TOP" "$set") ||
			die "set $set: the cover letter could not be written" "python3 test/mail/cover.py $KVER $full . $set"
		text=${text/$'\n'/$'\n\n'}
	fi
	# b4 prep -c put To: and Cc: in b4's default cover; they stay, below
	# our text
	{
		printf '%s\n\n' "$text"
		git -C "$work" log -1 --format=%B --grep='^--- b4-submit-tracking ---$' |
			grep -E '^(To|Cc): '
	} >"$tmp/cover-$set"
	git -C "$work" config core.editor "cp $tmp/cover-$set"
	mail_b4 "$work" prep --edit-cover &&
		mail_b4 "$work" prep --force-revision "$v" &&
		{ [ "$prefix" = PATCH ] || mail_b4 "$work" prep --set-prefixes ${prefix#PATCH }; } &&
		mail_b4 "$work" send -o "$dir" --no-sign --not-me-too ||
		die "set $set: b4 failed (see $log)" "test/lab.sh mail"
}
