#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Print what is wrong with the recipients of a set's mails (make check's
mail/<kver>/<set>/recipients_from_its_own_files); nothing if all is well.

    recipients.py DIR SUBMITTER TO CC

DIR holds the set's mails (*.eml); TO and CC are what get_maintainer.pl
gives for the set's files (one address a line).  Every mail must be To:
exactly TO, Cc: all of CC that is not in TO, and nobody else but people
named in the set's own trailers (Cc: stable@..., Tested-by: ...); never
the submitter.
"""
import email
import email.policy
import email.utils
import re
import sys
from pathlib import Path


def emails(addrs):
    return {a.lower() for _, a in email.utils.getaddresses(addrs) if a}


def trailer_emails(msg):
    """The addresses in the trailers of a mail's message (before ---)."""
    body = msg.get_body(("plain",)).get_content().split("\n---\n", 1)[0]
    out = set()
    for line in body.splitlines():
        if re.match(r"^[A-Z][A-Za-z-]*: .*@", line):
            # "Cc: stable@vger.kernel.org # 6.1.x": the comment is no address
            out |= emails([line.split(": ", 1)[1].split(" #", 1)[0]])
    return out


def main():
    d, me, to, cc = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    me = emails([me])
    want_to = emails(to.splitlines())
    want_cc = emails(cc.splitlines()) - want_to
    mails = {m.name: email.message_from_bytes(m.read_bytes(),
                                              policy=email.policy.default)
             for m in sorted(d.glob("*.eml"))}
    if not mails:
        print(f"no mails in {d}")
    if not want_to:
        print("get_maintainer.pl gives no maintainer for the set's files")
    ok = set()
    for m in mails.values():
        ok |= trailer_emails(m)
    ok -= me
    for name, m in mails.items():
        got_to = emails([str(m["To"] or "")])
        got_cc = emails([str(m["Cc"] or "")])
        for a in sorted(want_to - got_to):
            print(f"{name}: To: lacks {a}")
        for a in sorted(got_to - want_to):
            print(f"{name}: To: {a}, who is no maintainer of the set's files")
        for a in sorted(want_cc - got_cc - got_to):
            print(f"{name}: Cc: lacks {a}")
        for a in sorted(got_cc - want_cc - want_to - ok):
            print(f"{name}: Cc: {a}, who is not in get_maintainer.pl's "
                  "answer for the set's files nor in its trailers")
        for a in sorted((got_to | got_cc) & me):
            print(f"{name}: the submitter {a} is a recipient")


main()
