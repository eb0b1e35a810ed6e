"""The labelled bounce corpus (tests/data/bounces/corpus): every published
rejection text wrapped in the bounce format of the MTA that reports it, run
through `relayguard bounce`, and scored. The thresholds of issue 17 hold on
the held-out parts: recall >= 0.90 on IP blocks, <= 2% of the other bounces
called blocked. Run as a script to print the figures for docs/bounce.md."""
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
CORPUS = os.path.join(HERE, "..", "data", "bounces", "corpus", "labels.tsv")

ENH = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
REPLY = re.compile(r"^\s*([45])\d\d[ -]")
OUR_MTA = "mail.example.com"
REMOTE_IP = "203.0.113.77"


def load():
    rows = []
    with open(CORPUS, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            split, mta, expected, remote, ref, text = line.split("\t")
            rows.append({"line": n, "split": split, "mta": mta, "expected": expected,
                         "remote": None if remote == "-" else remote, "ref": ref,
                         "text": text.replace("\\n", "\n")})
    return rows


def status_of(text):
    m = ENH.search(text)
    if m:
        return m.group(1)
    m = REPLY.match(text)
    if m:
        return m.group(1) + ".0.0"
    low = text.lower()
    if "not found" in low or "couldn't find any host" in low or "non-existent host" in low:
        return "5.4.4"
    if "timed out" in low or "too long" in low or "retry" in low or "5 days" in low:
        return "4.4.7"
    if "connection" in low:
        return "4.4.2"
    return "5.0.0"


def fold(text, indent="    "):
    return ("\n" + indent).join(text.split("\n"))


def headers(subject, sender, extra=""):
    return ("From MAILER-DAEMON  Sun Dec  6 04:00:00 2026\n"
            "Return-Path: <>\n"
            f"From: {sender}\n"
            "To: alice@example.com\n"
            f"Subject: {subject}\n"
            "Date: Sun, 6 Dec 2026 04:00:00 +0000\n"
            "Message-ID: <bounce@mail.example.com>\n"
            f"{extra}MIME-Version: 1.0\n")


def dsn_part(rcpt, status, remote, diag, diag_type="smtp"):
    out = ("Content-Type: message/delivery-status\n\n"
           f"Reporting-MTA: dns; {OUR_MTA}\n\n"
           f"Final-Recipient: rfc822; {rcpt}\nAction: failed\nStatus: {status}\n")
    if remote:
        out += f"Remote-MTA: dns; {remote}\n"
    if diag is not None:
        out += f"Diagnostic-Code: {diag_type}; {fold(diag)}\n"
    return out


def postfix(row, rcpt):
    t, remote, st = row["text"], row["remote"], status_of(row["text"])
    if remote:
        human = (f"<{rcpt}>: host {remote}[{REMOTE_IP}] said: {' '.join(t.split(chr(10)))}"
                 " (in reply to RCPT TO command)")
    else:
        human = f"<{rcpt}>: {t}"
    return (headers("Undelivered Mail Returned to Sender",
                    f"MAILER-DAEMON@{OUR_MTA} (Mail Delivery System)")
            + 'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
            "--B\nContent-Type: text/plain; charset=us-ascii\n\n"
            f"This is the mail system at host {OUR_MTA}.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n\n"
            f"{human}\n\n--B\n"
            + dsn_part(rcpt, st, remote, t, "smtp" if remote else "X-Postfix")
            + "\n--B--\n")


def exim(row, rcpt):
    t, remote = row["text"], row["remote"]
    if remote:
        body = (f"  {rcpt}\n    host {remote} [{REMOTE_IP}]\n"
                f"    SMTP error from remote mail server after RCPT TO:<{rcpt}>:\n"
                f"    {fold(t)}\n")
    else:
        body = f"  {rcpt}\n    {fold(t)}\n"
    return (headers("Mail delivery failed: returning message to sender",
                    f"Mail Delivery System <Mailer-Daemon@{OUR_MTA}>",
                    f"X-Failed-Recipients: {rcpt}\n")
            + "Content-Type: text/plain; charset=us-ascii\n\n"
            "This message was created automatically by mail delivery software.\n\n"
            "A message that you sent could not be delivered to one or more of its\n"
            "recipients. This is a permanent error. The following address(es) failed:\n\n"
            + body)


def qmail(row, rcpt):
    t, remote = row["text"], row["remote"]
    if remote:
        body = (f"<{rcpt}>:\n{REMOTE_IP} does not like recipient.\n"
                f"Remote host said: {' '.join(t.split(chr(10)))}\nGiving up on {REMOTE_IP}.\n")
    else:
        body = f"<{rcpt}>:\n{t}\n"
    return (headers("failure notice", f"MAILER-DAEMON@{OUR_MTA}")
            + "Content-Type: text/plain\n\n"
            f"Hi. This is the qmail-send program at {OUR_MTA}.\n"
            "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
            "This is a permanent error; I've given up. Sorry it didn't work out.\n\n" + body)


def sendmail(row, rcpt):
    t, remote, st = row["text"], row["remote"], status_of(row["text"])
    lines = t.split("\n")
    if remote:
        trans = (f"... while talking to {remote}.:\n>>> RCPT To:<{rcpt}>\n"
                 + "".join(f"<<< {ln}\n" for ln in lines))
    else:
        trans = f"{t}\n"
    return (headers("Returned mail: see transcript for details",
                    f"Mail Delivery Subsystem <MAILER-DAEMON@{OUR_MTA}>")
            + 'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
            "--B\n\nThe original message was received at Sun, 6 Dec 2026 03:00:00 +0000\n"
            "from localhost [127.0.0.1]\n\n"
            "   ----- The following addresses had permanent fatal errors -----\n"
            f"<{rcpt}>\n    (reason: {lines[0]})\n\n"
            "   ----- Transcript of session follows -----\n" + trans + "\n--B\n"
            + dsn_part(rcpt, st, remote, t if remote else None)
            + "\n--B--\n")


def exchange(row, rcpt):
    t, remote, st = row["text"], row["remote"], status_of(row["text"])
    flat = " ".join(t.split("\n"))
    return (headers("Undeliverable: quarterly report",
                    "Microsoft Outlook <postmaster@example.com>")
            + 'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
            "--B\nContent-Type: text/plain; charset=us-ascii\n\n"
            "Delivery has failed to these recipients or groups:\n\n"
            f"{rcpt}\nThe email couldn't be delivered.\n\n"
            "Diagnostic information for administrators:\n\n"
            "Generating server: EX01.example.com\n\n"
            f"{rcpt}\n{remote or 'EX01.example.com'}\n"
            f"Remote Server returned '{flat}'\n\n--B\n"
            + dsn_part(rcpt, st, remote, None)
            + "\n--B--\n")


FORMATS = {"postfix": postfix, "exim": exim, "qmail": qmail, "sendmail": sendmail,
           "exchange": exchange}


def classify(rows, rg_bin):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "corpus.mbox")
        with open(path, "w", encoding="utf-8") as f:
            for i, row in enumerate(rows):
                f.write(FORMATS[row["mta"]](row, f"user{i}@example.net") + "\n")
        p = subprocess.run([rg_bin, "bounce", "--json", path], capture_output=True,
                           text=True, timeout=120)
        assert p.returncode in (0, 1), p.stderr
        msgs = json.loads(p.stdout)["messages"]
    assert len(msgs) == len(rows)
    return msgs


def score(rows, msgs):
    """Per split and per MTA: blocked recall, false blocked, reason accuracy."""
    stats = collections.defaultdict(lambda: collections.Counter())
    for row, m in zip(rows, msgs):
        for key in ((row["split"], "all"), (row["split"], row["mta"])):
            s = stats[key]
            s["n"] += 1
            s["reason_ok"] += m["reason"] == row["expected"]
            if row["expected"] == "blocked":
                s["blocks"] += 1
                s["found"] += bool(m["blocked"])
            else:
                s["others"] += 1
                s["false"] += bool(m["blocked"])
    return stats


def misses(rows, msgs, split):
    return [(r["line"], r["expected"], m["reason"], r["text"][:90])
            for r, m in zip(rows, msgs)
            if r["split"] == split and (r["expected"] == "blocked") != bool(m["blocked"])]


def test_corpus_thresholds():
    rows = load()
    msgs = classify(rows, os.environ["RG_BIN"])
    for m in msgs:
        assert m["is_bounce"], m["source"]
    st = score(rows, msgs)
    # train: tuned on; held out: the test part and the fresh part together
    # (docs/bounce.md gives each part on its own).
    for parts in (("train",), ("test", "fresh")):
        s = collections.Counter()
        for part in parts:
            s.update(st[(part, "all")])
        assert s["blocks"] >= 30 and s["others"] >= 30
        recall = s["found"] / s["blocks"]
        false_rate = s["false"] / s["others"]
        bad = [x for part in parts for x in misses(rows, msgs, part)]
        assert recall >= 0.90, (parts, recall, bad)
        assert false_rate <= 0.02, (parts, false_rate, bad)


def test_corpus_blocked_names_ip():
    """A block whose text names our IP reports it as listed_ip."""
    rows = load()
    msgs = classify(rows, os.environ["RG_BIN"])
    for row, m in zip(rows, msgs):
        if m["blocked"] and re.search(r"\b192\.0\.2\.10\b|\b198\.51\.100\.7\b", row["text"]):
            assert m["listed_ip"] in ("192.0.2.10", "198.51.100.7"), (row["line"], m)


def main():
    rows = load()
    msgs = classify(rows, os.environ.get("RG_BIN", "build/rel/relayguard"))
    st = score(rows, msgs)
    print("| part | source MTA | bounces | IP blocks | recall | others | false blocked | reason right |")
    print("|---|---|---|---|---|---|---|---|")
    for split in ("train", "test", "fresh"):
        for mta in ["all"] + sorted(FORMATS):
            s = st[(split, mta)]
            if not s["n"]:
                continue
            rec = f"{s['found']}/{s['blocks']} = {s['found'] / s['blocks']:.2f}" if s["blocks"] else "-"
            fb = f"{s['false']}/{s['others']} = {s['false'] / s['others']:.2f}" if s["others"] else "-"
            print(f"| {split} | {mta} | {s['n']} | {s['blocks']} | {rec} | {s['others']} | {fb} "
                  f"| {s['reason_ok']}/{s['n']} = {s['reason_ok'] / s['n']:.2f} |")
    h = collections.Counter()
    for part in ("test", "fresh"):
        h.update(st[(part, "all")])
    print(f"| held out (test + fresh) | all | {h['n']} | {h['blocks']} | "
          f"{h['found']}/{h['blocks']} = {h['found'] / h['blocks']:.2f} | {h['others']} | "
          f"{h['false']}/{h['others']} = {h['false'] / h['others']:.2f} | "
          f"{h['reason_ok']}/{h['n']} = {h['reason_ok'] / h['n']:.2f} |")
    if "-v" in sys.argv:
        for split in ("train", "test", "fresh"):
            for r, m in zip(rows, msgs):
                if r["split"] == split and m["reason"] != r["expected"]:
                    print(split, r["line"], r["expected"], "->", m["reason"], "|", r["text"][:100])


if __name__ == "__main__":
    main()
