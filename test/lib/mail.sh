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
			git -C "$base" add -A -f &&
			git -C "$base" -c user.name=lab -c user.email=lab@localhost \
				commit -q -m "Linux $full" &&
			git -C "$base" tag lab-base
	} >"$B/logs/mail-base-$KVER.log" 2>&1 ||
		die "could not commit the base tree (see $B/logs/mail-base-$KVER.log)" "test/lab.sh mail"
	echo "$stamp" >"$base/.git/lab-stamp"
}

# The addresses get_maintainer.pl gives for a patch, comma-separated;
# $2: to (maintainers) or cc (reviewers and lists).
mail_addrs() {
	# the throw-away repository has no history: no --git, no --fixes
	local tree=$1 kind=$2 patch=$3 opts=(--no-git --no-git-fallback --no-rolestats --nofixes)
	case $kind in
	to) opts+=(--nol --nor) ;;
	cc) opts+=(--nom) ;;
	esac
	(cd "$tree" && perl scripts/get_maintainer.pl "${opts[@]}" "$patch") | paste -sd, - | sed 's/,/, /g'
}

# `make mail`: KVER's series as mails in git format-patch form, with a cover
# letter and To/Cc from the tree's get_maintainer.pl, in outgoing/v$V/ (a
# backport's in outgoing/<KVER>/v$V/; or MAIL_OUT). It never sends
# anything. The trailers come from the submitter's git configuration: each
# `git config --add fuselab.trailer "Tag: value"`, then Signed-off-by:
# user.name <user.email>.
cmd_mail() {
	local v=${V:-1} out name email full base work tmp t p f n=0 to cc all_to= all_cc=
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
	out=${MAIL_OUT:-$TOP/outgoing/${KTAG}v$v}
	full=$(tree_version "$(ksrc)" "$KVER") || exit 1
	base=$B/mail/$KVER-base
	mail_base "$base" "$full"
	# the patches with the submitter's trailers, imported onto the base
	tmp=$B/mail/$KVER-patches
	rm -rf "$tmp" && mkdir -p "$tmp"
	for p in $(series_patches); do
		git interpret-trailers "${trailers[@]}" "$QUILT_PATCHES/$p" >"$tmp/$p" ||
			die "could not add trailers to $p" "test/lab.sh mail"
	done
	work=$B/mail/$KVER-work
	rm -rf "$work" && git clone -q --shared "$base" "$work"
	git -C "$work" -c user.name="$name" -c user.email="$email" quiltimport \
		--author "$name <$email>" --patches "$tmp" --series "$QUILT_SERIES" \
		>"$B/logs/mail-$KVER.log" 2>&1 ||
		die "git quiltimport failed (see $B/logs/mail-$KVER.log)" "test/lab.sh mail"
	rm -rf "$out.tmp" && mkdir -p "$out.tmp"
	t=PATCH
	[ "$KVER" = "$MAINLINE" ] || t="PATCH $KVER"
	git -C "$work" format-patch -q --cover-letter --thread=shallow \
		$([ "$v" = 1 ] || echo "-v$v") --subject-prefix="$t" \
		-o "$out.tmp" lab-base..HEAD ||
		die "git format-patch failed" "test/lab.sh mail"
	for f in "$out.tmp"/*.patch; do
		case ${f##*/} in *0000-cover-letter.patch) continue ;; esac
		to=$(mail_addrs "$work" to "$f") && cc=$(mail_addrs "$work" cc "$f") ||
			die "get_maintainer.pl failed on ${f##*/}" "cd $work && scripts/get_maintainer.pl $f"
		all_to="$all_to, $to" all_cc="$all_cc, $cc"
		mail_headers "$f" "$to" "$cc"
		n=$((n + 1))
	done
	mail_cover "$out.tmp"/*0000-cover-letter.patch "$full" "${all_to#, }" "${all_cc#, }"
	rm -rf "$out" && mkdir -p "${out%/*}" && mv "$out.tmp" "$out"
	step "mail: $n patches and a cover letter for Linux $full in $out (nothing sent)"
}

# Put To: and Cc: before the Subject: of mail $1 (test/mail/headers.py).
mail_headers() {
	python3 "$TOP/test/mail/headers.py" "$@"
}

# The cover letter: its subject and text from test/mail/cover.py, the union
# of the patches' To: and Cc:.
mail_cover() {
	local f=$1 full=$2 text
	text=$(python3 "$TOP/test/mail/cover.py" "$KVER" "$full" "$TOP") ||
		die "the cover letter could not be written" "python3 test/mail/cover.py $KVER $full ."
	python3 "$TOP/test/mail/fill_cover.py" "$f" "$text" || die "could not fill in $f"
	mail_headers "$f" "$3" "$4"
}

# make check's tests of `make mail` for KVER's series, as a submitter
# configured for the test (never the machine's own git identity): refused
# with no identity; the mails carry the configured trailers and the cover
# letter the figures of docs/perf/summary.json; `git am` of them onto a fresh clone
# of the base gives the tree quiltimport made; checkpatch --strict passes on
# each mail.
cmd_mail_check() {
	local t=mail/$KVER cfg out log am f n=0 want
	local me="Lab Submitter <submitter@example.invalid>" tb="Tested-by: Lab Tester <tester@example.invalid>"
	tap_step "$KVER-mail"
	# what the check writes is the run's: its mails, git identity and clone
	out=${TAP_FILE%.tap}.mails cfg=${TAP_FILE%.tap}.gitconfig am=${TAP_FILE%.tap}.am
	mkdir -p "$B/mail"
	if log=$( (export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 MAIL_OUT=$out-refused
		cd "$B/mail" && cmd_mail) 2>&1); then
		tap_ fail "$t/refused_without_a_submitter" "make mail succeeded with no git identity"
	elif echo "$log" | grep -q "who submits" && [ ! -e "$out-refused" ]; then
		tap_ ok "$t/refused_without_a_submitter"
	else
		tap_ fail "$t/refused_without_a_submitter" "$log"
	fi
	printf '[user]\n\tname = Lab Submitter\n\temail = submitter@example.invalid\n[fuselab]\n\ttrailer = %s\n' "$tb" >"$cfg"
	if ! log=$( (export GIT_CONFIG_GLOBAL=$cfg GIT_CONFIG_NOSYSTEM=1 MAIL_OUT=$out
		cd "$B/mail" && cmd_mail) 2>&1); then
		tap_ fail "$t/written" "$log" "reproduce: KVER=$KVER test/lab.sh mail"
		return
	fi
	want=$(series_patches | wc -l)
	for f in "$out"/*.patch; do case ${f##*/} in 0000-*) ;; *) n=$((n + 1)) ;; esac; done
	if [ "$n" = "$want" ] && [ -f "$out/0000-cover-letter.patch" ]; then
		tap_ ok "$t/written" "measured: $n patches and a cover letter"
	else
		tap_ fail "$t/written" "$n mails for $want patches, cover letter: $(ls "$out"/0000-* 2>&1)"
	fi
	# every patch: From: the submitter, To: someone, the trailers last
	log=$(for f in "$out"/0*.patch; do
		case ${f##*/} in 0000-*) continue ;; esac
		grep -qx "From: $me" "$f" || echo "${f##*/}: no From: $me"
		grep -q "^To: ." "$f" || echo "${f##*/}: no To:"
		[ "$(sed -n '/^---$/q;p' "$f" | tail -n 2)" = "$tb
Signed-off-by: $me" ] || echo "${f##*/}: does not end with the configured trailers"
	done)
	if [ -z "$log" ]; then tap_ ok "$t/trailers_from_the_submitter"; else tap_ fail "$t/trailers_from_the_submitter" "$log"; fi
	log=$(python3 "$TOP/test/mail/check_cover.py" "$out/0000-cover-letter.patch" "$TOP/docs/perf/summary.json")
	if [ -z "$log" ]; then tap_ ok "$t/cover_letter_quotes_docs_perf_md"; else tap_ fail "$t/cover_letter_quotes_docs_perf_md" "$log"; fi
	git clone -q --shared "$B/mail/$KVER-base" "$am"
	if log=$(cd "$am" && GIT_CONFIG_GLOBAL=$cfg GIT_CONFIG_NOSYSTEM=1 git am -q $(ls "$out"/0*.patch | grep -v /0000-) 2>&1) &&
		[ "$(git -C "$am" rev-parse 'HEAD^{tree}')" = "$(git -C "$B/mail/$KVER-work" rev-parse 'HEAD^{tree}')" ]; then
		tap_ ok "$t/git_am_onto_a_fresh_base" "measured: $(git -C "$am" rev-list --count lab-base..HEAD) commits, tree $(git -C "$am" rev-parse --short 'HEAD^{tree}')"
	else
		tap_ fail "$t/git_am_onto_a_fresh_base" "$log" "reproduce: cd $am && git am \$(ls $out/0*.patch | grep -v /0000-)"
	fi
	for f in "$out"/0*.patch; do
		if log=$(KVER=$KVER KSRC=$(ksrc) "$TOP/checkpatch.sh" "$f" 2>&1); then
			tap_ ok "$t/checkpatch/${f##*/}"
		else
			tap_ fail "$t/checkpatch/${f##*/}" "$log"
		fi
	done
}
