# SPDX-License-Identifier: GPL-2.0
# make check's tests of make mail (sourced by test/lab.sh): TAP lines
# mail/<kver>/... for the whole run, mail/<kver>/<set>/... for each set.

# KVER's series as mails, made by a submitter configured for the test
# (never the machine's own git identity): the tables fit the series; it
# is refused with no identity; every set is written, nothing is sent; then
# each set (mail_check_set).
cmd_mail_check() {
	local t=mail/$KVER cfg out log i set prefix cover after paths
	local me="Lab Submitter <submitter@example.invalid>" tb="Tested-by: Lab Tester <tester@example.invalid>"
	tap_step "$KVER-mail"
	# what the check writes is the run's: its mails, git identity, clones
	out=${TAP_FILE%.tap}.mails cfg=${TAP_FILE%.tap}.gitconfig
	mkdir -p "$B/mail"
	log=$(mail_sets check "$KVER" 2>&1) || true
	if [ -z "$log" ]; then
		tap_ ok "$t/sets_cover_the_series"
	else
		tap_ fail "$t/sets_cover_the_series" "$log" "reproduce: python3 test/mail/sets.py check $KVER"
		return
	fi
	if log=$( (export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 MAIL_OUT=$out-refused
		cd "$B/mail" && cmd_mail) 2>&1); then
		tap_ fail "$t/refused_without_a_submitter" "make mail succeeded with no git identity" \
			"reproduce: GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 $(lab_env)test/lab.sh mail"
	elif echo "$log" | grep -q "who submits" && [ ! -e "$out-refused" ]; then
		tap_ ok "$t/refused_without_a_submitter"
	else
		tap_ fail "$t/refused_without_a_submitter" "$log" \
			"reproduce: GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 $(lab_env)test/lab.sh mail"
	fi
	printf '[user]\n\tname = Lab Submitter\n\temail = submitter@example.invalid\n[fuselab]\n\ttrailer = %s\n' "$tb" >"$cfg"
	if ! log=$( (export GIT_CONFIG_GLOBAL=$cfg GIT_CONFIG_NOSYSTEM=1 MAIL_OUT=$out
		cd "$B/mail" && cmd_mail) 2>&1); then
		mail_check_not_sent "$t"
		tap_ fail "$t/written" "$log" "reproduce: $(lab_env)test/lab.sh mail"
		return
	fi
	mail_check_not_sent "$t"
	mail_check_written "$t" "$out"
	while IFS=$'\t' read -r i set prefix cover after paths <&3; do
		mail_check_set "$t/$set" "$out" "$i-$set" "$cover" "$after" "$paths" "$me" "$tb" "$cfg"
	done 3< <(mail_sets list "$KVER")
}

# Each set's directory has a mail per patch, and a cover letter if it has
# more than one; the README is there.
mail_check_written() {
	local t=$1 out=$2 i set rest want got log= n=0
	while IFS=$'\t' read -r i set rest; do
		want=$(mail_sets patches "$KVER" "$set" | wc -l)
		[ "$want" = 1 ] || want=$((want + 1))
		got=$(find "$out/$i-$set" -name '*.eml' 2>/dev/null | wc -l)
		[ "$got" = "$want" ] || log="$log$i-$set: $got mails, not $want"$'\n'
		n=$((n + got))
	done < <(mail_sets list "$KVER")
	[ -s "$out/README.md" ] || log="${log}no README.md"
	if [ -z "$log" ]; then
		tap_ ok "$t/written" "measured: $(mail_sets list "$KVER" | wc -l) sets, $n mails"
	else
		tap_ fail "$t/written" "$log" "reproduce: $(lab_env)test/lab.sh mail"
	fi
}

# b4 send -o never ran the stub sendmail, and ran with no network where
# unshare could give it none.
mail_check_not_sent() {
	local t=$1 log=$B/logs/mail-$KVER.log sent=$B/mail/$KVER-sent.log why=
	[ ! -e "$sent" ] || why="the stub sendmail ran: $(head -n 5 "$sent")"
	grep -q '^+ .*b4 send -o ' "$log" || why="$why"$'\n'"no b4 send -o in $log"
	! grep '^+ .*b4 send' "$log" | grep -v ' b4 send -o ' || why="$why"$'\n'"b4 send without -o"
	if unshare -rn true 2>/dev/null && grep '^+ .*b4 send' "$log" | grep -qv '^+ unshare -rn b4 send'; then
		why="$why"$'\n'"b4 send ran with the network (not under unshare -rn)"
	fi
	if [ -z "$why" ]; then
		tap_ ok "$t/nothing_sent" "measured: $(grep -c '^+ unshare -rn b4 send' "$log") b4 send -o under unshare -rn"
	else
		tap_ fail "$t/nothing_sent" "$why" "reproduce: $(lab_env)test/lab.sh mail; cat $log"
	fi
}

# One set's mails: the trailers, the cover letter (or nothing below a
# single patch's ---), git am onto a fresh base (after the set it comes
# after), recipients from its own files, checkpatch on each.
mail_check_set() {
	local t=$1 out=$2 d=$2/$3 cover=$4 after=$5 paths=$6 me=$7 tb=$8 cfg=$9
	local f log am=$B/mail/$KVER-am files to cc p rep
	rep="reproduce: $(lab_env)test/lab.sh mail-check (its mails: $d)"
	log=$(for f in "$d"/0*.eml; do
		case ${f##*/} in 0000-*) continue ;; esac
		grep -qx "From: $me" "$f" || echo "${f##*/}: no From: $me"
		grep -q "^To: ." "$f" || echo "${f##*/}: no To:"
		[ "$(sed -n '/^---$/q;p' "$f" | tail -n 2)" = "$tb
Signed-off-by: $me" ] || echo "${f##*/}: does not end with the configured trailers"
	done)
	if [ -z "$log" ]; then tap_ ok "$t/trailers_from_the_submitter"; else tap_ fail "$t/trailers_from_the_submitter" "$log" "$rep"; fi
	if [ "$cover" = - ]; then
		# b4 puts a single patch's cover text below its ---
		log=$(awk '/^---$/ { getline; print; exit }' "$d"/0001-*.eml)
		if echo "$log" | grep -qE '^ .* \| +[0-9]+ '; then
			tap_ ok "$t/nothing_below_the_cut"
		else
			tap_ fail "$t/nothing_below_the_cut" "after the --- comes '$log', not the diffstat" "$rep"
		fi
	elif grep -q '@PERF@' "$TOP/test/mail/$cover"; then
		log=$(python3 "$TOP/test/mail/check_cover.py" "$d"/0000-*.eml "$TOP/docs/perf/summary.json" 2>&1)
		if [ -z "$log" ]; then tap_ ok "$t/cover_letter_quotes_docs_perf_md"; else tap_ fail "$t/cover_letter_quotes_docs_perf_md" "$log" "$rep"; fi
	else
		log=$(python3 "$TOP/test/mail/check_cover.py" "$d"/0000-*.eml 2>&1)
		if [ -z "$log" ]; then tap_ ok "$t/cover_letter_has_no_placeholder"; else tap_ fail "$t/cover_letter_has_no_placeholder" "$log" "$rep"; fi
	fi
	mail_check_am "$t" "$out" "$d" "$after" "$am" "$cfg" "${3#*-}"
	# the files the set writes, inside its paths; get_maintainer.pl over
	# them in the tree git am made
	files=$(sed -n 's|^+++ b/||p' "$d"/0*.eml | sort -u)
	log=$(for f in $files; do
		for p in ${paths//,/ }; do [[ $f != "$p"* ]] || continue 2; done
		echo "writes $f, outside its paths ($paths, test/mail/sets.tsv)"
	done)
	to=$(cd "$am" && perl scripts/get_maintainer.pl $MAIL_GM_OPTS $MAIL_GM_TO -f $files 2>&1) &&
		cc=$(cd "$am" && perl scripts/get_maintainer.pl $MAIL_GM_OPTS $MAIL_GM_CC -f $files 2>&1) ||
		log="$log"$'\n'"get_maintainer.pl failed: $to$cc"
	[ -n "$log" ] || log=$(python3 "$TOP/test/mail/recipients.py" "$d" "$me" "$to" "$cc" 2>&1)
	if [ -z "$log" ]; then
		tap_ ok "$t/recipients_from_its_own_files" "measured: To $(echo "$to" | wc -l), Cc $(echo "$cc" | wc -l) from $(echo "$files" | xargs)"
	else
		tap_ fail "$t/recipients_from_its_own_files" "$log" \
			"reproduce: cd $am && scripts/get_maintainer.pl $MAIL_GM_OPTS -f $(echo "$files" | xargs)"
	fi
	for f in "$d"/0*.eml; do
		case ${f##*/} in 0000-*) continue ;; esac
		if log=$(KVER=$KVER KSRC=$(ksrc) "$TOP/checkpatch.sh" "$f" 2>&1); then
			tap_ ok "$t/checkpatch/${f##*/}"
		else
			tap_ fail "$t/checkpatch/${f##*/}" "$log" "reproduce: $(lab_env | sed 's/KSRC=[^ ]* //')./checkpatch.sh $f"
		fi
	done
}

# git am of the set's mails onto a fresh clone of the base, after those
# of the set it comes after: the tree quiltimport made (lab/<set>).
mail_check_am() {
	local t=$1 out=$2 d=$3 after=$4 am=$5 cfg=$6 set=$7 log want mails=() first=
	[ "$after" = - ] || first=" ($after's first)"
	[ "$after" = - ] || mails=($(ls "$out"/[0-9]*-"$after"/0*.eml | grep -v /0000-))
	mails+=($(ls "$d"/0*.eml | grep -v /0000-))
	mail_clone "$B/mail/$KVER-base" "$am"
	want=$(git -C "$B/mail/$KVER-work" rev-parse --short "lab/$set^{tree}")
	if log=$(cd "$am" && GIT_CONFIG_GLOBAL=$cfg GIT_CONFIG_NOSYSTEM=1 git am -q "${mails[@]}" 2>&1) &&
		log="tree $(git -C "$am" rev-parse --short 'HEAD^{tree}'), git quiltimport's $want" &&
		[ "$(git -C "$am" rev-parse --short 'HEAD^{tree}')" = "$want" ]; then
		tap_ ok "$t/git_am_onto_a_fresh_base" "measured: $(git -C "$am" rev-list --count lab-base..HEAD) commits$first, tree $(git -C "$am" rev-parse --short 'HEAD^{tree}')"
	else
		tap_ fail "$t/git_am_onto_a_fresh_base" "$log" "reproduce: cd $am && git am ${mails[*]}"
	fi
}
