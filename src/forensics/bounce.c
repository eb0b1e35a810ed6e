/*
 * bounce - bounce detection, field extraction and blocklist classification;
 * see bounce.h.
 *
 * The classifier is data: bounce_rules[] below, one row per pattern, tried in
 * order on the normalised rejection text (lower case, white space collapsed,
 * SMTP multi-line prefixes such as "550-5.7.1 " removed). A row names a list
 * (DNSBL zone or provider word), its display name and its delisting page
 * (%IP% is replaced by the IP named in the text). Rows of one family (all the
 * Spamhaus zones, say) give at most one list per message, so the first, most
 * specific row wins. To support a new receiver, add a row; see docs/bounce.md.
 *
 * Texts and their meaning: shared/reference/dnsbl.md section 4b.
 */
#include "forensics/bounce.h"

#include "core/buf.h"
#include "core/str.h"
#include "forensics/dsn.h"
#include "forensics/mime.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum bounce_rule_kind {
	BOUNCE_RULE_LIST,  /* the text names this list: blocked */
	BOUNCE_RULE_ERROR, /* the receiver's DNSBL lookup failed: not blocked */
	BOUNCE_RULE_RHOST, /* provider by receiving host, used when blocked without a public list */
};

struct bounce_rule {
	enum bounce_rule_kind kind;
	const char *match;  /* lower-case substring */
	const char *then;   /* NULL, or a second substring that must follow match */
	const char *family; /* NULL: the id */
	const char *id;
	const char *name;
	const char *delist; /* %IP% becomes the listed IP */
	bool dnsbl;         /* a public DNS list (stops provider-by-host attribution) */
};

#define SPAMHAUS_CHECK "https://check.spamhaus.org/results/?query=%IP%"
#define MS_SENDER "https://sender.office.com/"
#define MS_OLC "https://olcsupport.office.com/"
#define GMAIL_HELP "https://support.google.com/mail/answer/81126"
#define YAHOO_HELP "https://senders.yahooinc.com/contact"
#define CSI_RESET "https://csi.cloudmark.com/reset-request/?ip=%IP%"
#define PP_CHECK "https://ipcheck.proofpoint.com/?ip=%IP%"
#define BRBL "https://www.barracudacentral.org/lookups/lookup-reputation"
#define UCE "https://www.uceprotect.net/en/rblcheck.php?ipr=%IP%"

#define L(m, t, fam, id, name, url, dns)                                                           \
	{                                                                                          \
		BOUNCE_RULE_LIST, m, t, fam, id, name, url, dns                                    \
	}
#define E(m)                                                                                       \
	{                                                                                          \
		BOUNCE_RULE_ERROR, m, NULL, NULL, NULL, NULL, NULL, false                          \
	}
#define H(m, id, name, url)                                                                        \
	{                                                                                          \
		BOUNCE_RULE_RHOST, m, NULL, NULL, id, name, url, false                             \
	}

static const struct bounce_rule bounce_rules[] = {
    /* Receiver-side DNSBL failures: the receiver must fix its resolver. */
    E("error: open resolver"),
    E("returnc/pub"),
    E("returnc/vol"),
    E("127.255.255.25"),
    E("query via public resolver"),
    E("queries via public/open resolver"),
    E("excessive number of queries"),
    E("uribl_blocked"),
    E("surbl_blocked"),

    /* Spamhaus: zone names first (most specific), then texts and URLs. */
    L("sbl-xbl.spamhaus.org", NULL, "spamhaus", "sbl-xbl.spamhaus.org", "Spamhaus SBL-XBL",
      SPAMHAUS_CHECK, true),
    L("zen.spamhaus.org", NULL, "spamhaus", "zen.spamhaus.org", "Spamhaus ZEN", SPAMHAUS_CHECK,
      true),
    L("zen.dq.spamhaus.net", NULL, "spamhaus", "zen.spamhaus.org", "Spamhaus ZEN", SPAMHAUS_CHECK,
      true),
    L("sbl.spamhaus.org", NULL, "spamhaus", "sbl.spamhaus.org", "Spamhaus SBL", SPAMHAUS_CHECK,
      true),
    L("sbl.dq.spamhaus.net", NULL, "spamhaus", "sbl.spamhaus.org", "Spamhaus SBL", SPAMHAUS_CHECK,
      true),
    L("xbl.spamhaus.org", NULL, "spamhaus", "xbl.spamhaus.org", "Spamhaus XBL", SPAMHAUS_CHECK,
      true),
    L("xbl.dq.spamhaus.net", NULL, "spamhaus", "xbl.spamhaus.org", "Spamhaus XBL", SPAMHAUS_CHECK,
      true),
    L("pbl.spamhaus.org", NULL, "spamhaus", "pbl.spamhaus.org", "Spamhaus PBL", SPAMHAUS_CHECK,
      true),
    L("pbl.dq.spamhaus.net", NULL, "spamhaus", "pbl.spamhaus.org", "Spamhaus PBL", SPAMHAUS_CHECK,
      true),
    L("dbl.spamhaus.org", NULL, "spamhaus", "dbl.spamhaus.org", "Spamhaus DBL",
      "https://check.spamhaus.org/", true),
    L("dbl.dq.spamhaus.net", NULL, "spamhaus", "dbl.spamhaus.org", "Spamhaus DBL",
      "https://check.spamhaus.org/", true),
    L("domain is listed in spamhaus", NULL, "spamhaus", "dbl.spamhaus.org", "Spamhaus DBL",
      "https://check.spamhaus.org/", true),
    L("[bl23]", NULL, "spamhaus", "xbl.spamhaus.org", "Spamhaus XBL", SPAMHAUS_CHECK, true),
    L("spamhaus xbl", NULL, "spamhaus", "xbl.spamhaus.org", "Spamhaus XBL", SPAMHAUS_CHECK, true),
    L("ib105", NULL, "spamhaus", "xbl.spamhaus.org", "Spamhaus XBL", SPAMHAUS_CHECK, true),
    L("spamhaus pbl", NULL, "spamhaus", "pbl.spamhaus.org", "Spamhaus PBL", SPAMHAUS_CHECK, true),
    L("ib106", NULL, "spamhaus", "pbl.spamhaus.org", "Spamhaus PBL", SPAMHAUS_CHECK, true),
    L("spamhaus block list (sbl)", NULL, "spamhaus", "sbl.spamhaus.org", "Spamhaus SBL",
      SPAMHAUS_CHECK, true),
    L("spamhaus.org/sbl/query", NULL, "spamhaus", "sbl.spamhaus.org", "Spamhaus SBL",
      SPAMHAUS_CHECK, true),
    L("[bl21]", NULL, "spamhaus", "zen.spamhaus.org", "Spamhaus ZEN", SPAMHAUS_CHECK, true),
    L("check.spamhaus.org", NULL, "spamhaus", "zen.spamhaus.org", "Spamhaus ZEN", SPAMHAUS_CHECK,
      true),
    L("spamhaus.org/query", NULL, "spamhaus", "zen.spamhaus.org", "Spamhaus ZEN", SPAMHAUS_CHECK,
      true),
    L("spamhaus.org/lookup", NULL, "spamhaus", "zen.spamhaus.org", "Spamhaus ZEN", SPAMHAUS_CHECK,
      true),
    L("blocked using spamhaus", NULL, "spamhaus", "zen.spamhaus.org", "Spamhaus ZEN",
      SPAMHAUS_CHECK, true),
    L("listed in spamhaus", NULL, "spamhaus", "zen.spamhaus.org", "Spamhaus ZEN", SPAMHAUS_CHECK,
      true),
    L("spamhaus's list", NULL, "spamhaus", "zen.spamhaus.org", "Spamhaus ZEN", SPAMHAUS_CHECK,
      true),

    /* Other public DNS lists. */
    L("bl.spamcop.net", NULL, NULL, "bl.spamcop.net", "SpamCop Blocking List",
      "https://www.spamcop.net/bl.shtml?%IP%", true),
    L("spamcop.net/bl.shtml", NULL, "bl.spamcop.net", "bl.spamcop.net", "SpamCop Blocking List",
      "https://www.spamcop.net/bl.shtml?%IP%", true),
    L("spamcop.net/w3m", NULL, "bl.spamcop.net", "bl.spamcop.net", "SpamCop Blocking List",
      "https://www.spamcop.net/bl.shtml?%IP%", true),
    L("bb.barracudacentral.org", NULL, "barracuda", "bb.barracudacentral.org",
      "Barracuda Reputation Block List", BRBL, true),
    L("barracudacentral.org", NULL, "barracuda", "b.barracudacentral.org",
      "Barracuda Reputation Block List", BRBL, true),
    L("barracuda reputation", NULL, "barracuda", "b.barracudacentral.org",
      "Barracuda Reputation Block List", BRBL, true),
    L("barracudanetworks.com/reputation", NULL, "barracuda", "b.barracudacentral.org",
      "Barracuda Reputation Block List", BRBL, true),
    L("dnsbl-1.uceprotect.net", NULL, "uceprotect", "dnsbl-1.uceprotect.net", "UCEPROTECT Level 1",
      UCE, true),
    L("dnsbl-2.uceprotect.net", NULL, "uceprotect", "dnsbl-2.uceprotect.net", "UCEPROTECT Level 2",
      UCE, true),
    L("dnsbl-3.uceprotect.net", NULL, "uceprotect", "dnsbl-3.uceprotect.net", "UCEPROTECT Level 3",
      UCE, true),
    L("uceprotect", NULL, "uceprotect", "dnsbl-1.uceprotect.net", "UCEPROTECT Level 1", UCE, true),
    L("ips.backscatterer.org", NULL, NULL, "ips.backscatterer.org", "UCEPROTECT Backscatterer",
      "https://www.backscatterer.org/?target=test", true),
    L("psbl.surriel.com", NULL, NULL, "psbl.surriel.com", "Passive Spam Block List",
      "https://psbl.org/listing?ip=%IP%", true),
    L("bl.mailspike.net", NULL, NULL, "bl.mailspike.net", "Mailspike",
      "https://mailspike.io/ip_verify", true),
    L("cbl.abuseat.org", NULL, "spamhaus", "xbl.spamhaus.org", "Spamhaus XBL (formerly CBL)",
      SPAMHAUS_CHECK, true),
    L("abuseat.org", NULL, "spamhaus", "xbl.spamhaus.org", "Spamhaus XBL (formerly CBL)",
      SPAMHAUS_CHECK, true),
    L("dyna.spamrats.com", NULL, "spamrats", "dyna.spamrats.com", "SpamRATS Dyna",
      "https://www.spamrats.com/lookup.php?ip=%IP%", true),
    L("noptr.spamrats.com", NULL, "spamrats", "noptr.spamrats.com", "SpamRATS NoPtr",
      "https://www.spamrats.com/lookup.php?ip=%IP%", true),
    L("spam.spamrats.com", NULL, "spamrats", "spam.spamrats.com", "SpamRATS Spam",
      "https://www.spamrats.com/lookup.php?ip=%IP%", true),
    L("spamrats", NULL, "spamrats", "all.spamrats.com", "SpamRATS",
      "https://www.spamrats.com/lookup.php?ip=%IP%", true),
    L("all.s5h.net", NULL, NULL, "all.s5h.net", "s5h.net",
      "http://www.usenix.org.uk/content/rblremove", true),
    L("0spam.org", NULL, NULL, "bl.0spam.org", "0spam", "https://0spam.org/", true),
    L("dnsbl.dronebl.org", NULL, NULL, "dnsbl.dronebl.org", "DroneBL",
      "https://dronebl.org/lookup?ip=%IP%", true),
    L("bl.blocklist.de", NULL, NULL, "bl.blocklist.de", "blocklist.de",
      "https://www.blocklist.de/en/delist.html", true),
    L("senderscore.org", NULL, NULL, "bl.score.senderscore.com", "Validity SenderScore",
      "https://www.senderscore.org/", true),
    L("mail.abusix.zone", NULL, NULL, "combined.mail.abusix.zone", "Abusix Mail Intelligence",
      "https://lookup.abusix.com/search?q=%IP%", true),
    L("uribl.com", NULL, NULL, "multi.uribl.com", "URIBL", "https://admin.uribl.com/", true),
    L("surbl.org", NULL, NULL, "multi.surbl.org", "SURBL", "https://www.surbl.org/surbl-analysis",
      true),
    L("trend micro", NULL, NULL, "trendmicro", "Trend Micro Email Reputation Services",
      "https://ers.trendmicro.com/reputations", false),
    L("mail-abuse.com", NULL, NULL, "trendmicro", "Trend Micro Email Reputation Services",
      "https://ers.trendmicro.com/reputations", false),

    /* Providers' own reputation systems. */
    L("delist@messaging.microsoft.com", NULL, NULL, "microsoft", "Microsoft banned sender list",
      "mailto:delist@messaging.microsoft.com", false),
    L("banned sending ip", NULL, NULL, "microsoft", "Microsoft 365 banned sending IP list",
      MS_SENDER, false),
    L("sender.office.com", NULL, NULL, "microsoft", "Microsoft 365 banned sending IP list",
      MS_SENDER, false),
    L("part of their network is on our block list", NULL, NULL, "microsoft",
      "Outlook.com block list", MS_OLC, false),
    L("(s3140)", NULL, NULL, "microsoft", "Outlook.com block list", MS_OLC, false),
    L("(s3150)", NULL, NULL, "microsoft", "Outlook.com block list", MS_OLC, false),
    L("(as3140)", NULL, NULL, "microsoft", "Outlook.com block list", MS_OLC, false),
    L("(as3150)", NULL, NULL, "microsoft", "Outlook.com block list", MS_OLC, false),
    L("mail.live.com/mail/troubleshooting", NULL, NULL, "microsoft", "Outlook.com block list",
      MS_OLC, false),
    L("rate limited due to ip reputation", NULL, NULL, "microsoft", "Outlook.com IP reputation",
      "https://postmaster.live.com/", false),
    L("unusual rate of unsolicited mail", NULL, NULL, "gmail", "Gmail IP reputation", GMAIL_HELP,
      false),
    L("has detected an unusual rate of mail", NULL, NULL, "gmail", "Gmail domain reputation",
      GMAIL_HELP, false),
    L("likely unsolicited mail", NULL, NULL, "gmail", "Gmail IP reputation", GMAIL_HELP, false),
    L("very low reputation of the sending", NULL, NULL, "gmail", "Gmail IP reputation",
      "https://support.google.com/mail/answer/188131", false),
    L("ip not in whitelist", NULL, NULL, "gmail", "Google Workspace inbound gateway",
      "https://support.google.com/a/answer/60751", false),
    L("?p=unsolicitediperror", NULL, NULL, "gmail", "Gmail IP reputation", GMAIL_HELP, false),
    L("?p=unsolicitedratelimiterror", NULL, NULL, "gmail", "Gmail IP reputation", GMAIL_HELP,
      false),
    L("mail/answer/81126", NULL, NULL, "gmail", "Gmail IP reputation", GMAIL_HELP, false),
    L("mail/answer/188131", NULL, NULL, "gmail", "Gmail IP reputation",
      "https://support.google.com/mail/answer/188131", false),
    L("[tss04]", NULL, NULL, "yahoo", "Yahoo/AOL reputation", YAHOO_HELP, false),
    L("[tss09]", NULL, NULL, "yahoo", "Yahoo/AOL reputation", YAHOO_HELP, false),
    L("[tss11]", NULL, NULL, "yahoo", "Yahoo/AOL reputation", YAHOO_HELP, false),
    L("[gl01]", NULL, NULL, "yahoo", "Yahoo/AOL reputation", YAHOO_HELP, false),
    L("[ph01]", NULL, NULL, "yahoo", "Yahoo/AOL reputation", YAHOO_HELP, false),
    L("message not accepted for policy reasons", NULL, NULL, "yahoo", "Yahoo/AOL reputation",
      YAHOO_HELP, false),
    L("support.apple.com/en-us/ht204137", NULL, NULL, "apple", "iCloud Mail reputation",
      "https://support.apple.com/en-us/102322", false),
    L("dnsbl:attrbl", NULL, NULL, "att", "AT&T block list", "mailto:abuse_rbl@abuse-att.net",
      false),
    L("dnsbl:rbl", "_is_blocked", NULL, "att", "AT&T block list", "mailto:abuse_rbl@abuse-att.net",
      false),
    L("abuse_rbl@abuse-att.net", NULL, NULL, "att", "AT&T block list",
      "mailto:abuse_rbl@abuse-att.net", false),
    L("rbl.att.net", NULL, NULL, "att", "AT&T block list", "mailto:abuse_rbl@abuse-att.net", false),
    L("blacklist.mailrelay.att.net", NULL, NULL, "att", "AT&T block list",
      "mailto:abuse_rbl@abuse-att.net", false),
    L("comcast block for spam", NULL, NULL, "comcast", "Comcast block list",
      "https://postmaster.comcast.net/smtp-error-codes.php", false),
    L("smtp-error-codes.php#bl", NULL, NULL, "comcast", "Comcast block list",
      "https://postmaster.comcast.net/smtp-error-codes.php", false),
    L("aup#cdrbl", NULL, NULL, "cox", "Cox block list",
      "https://www.cox.com/residential/support/email-error-codes.html", false),
    L("aup#ipbl", NULL, NULL, "cox", "Cox block list",
      "https://www.cox.com/residential/support/email-error-codes.html", false),
    L("ipcheck.proofpoint.com", NULL, NULL, "proofpoint", "Proofpoint Dynamic Reputation", PP_CHECK,
      false),
    L("support.proofpoint.com/dnsbl-lookup", NULL, NULL, "proofpoint",
      "Proofpoint Dynamic Reputation", PP_CHECK, false),
    L("prs.proofpoint.com", NULL, NULL, "proofpoint", "Proofpoint Dynamic Reputation", PP_CHECK,
      false),
    L("proofpoint dynamic reputation", NULL, NULL, "proofpoint", "Proofpoint Dynamic Reputation",
      PP_CHECK, false),
    L("csi.mimecast.org", NULL, NULL, "mimecast", "Mimecast reputation",
      "https://community.mimecast.com/docs/DOC-1369", false),
    L("poor reputation sender", NULL, NULL, "mimecast", "Mimecast reputation",
      "https://community.mimecast.com/docs/DOC-1369", false),
    L("host network not allowed", NULL, NULL, "mimecast", "Mimecast reputation",
      "https://community.mimecast.com/docs/DOC-1369", false),
    L("ip temporarily blacklisted", NULL, NULL, "mimecast", "Mimecast reputation",
      "https://community.mimecast.com/docs/DOC-1369", false),
    L("ofr006", NULL, NULL, "orange", "Orange block list", CSI_RESET, false),
    L("ofr004", NULL, NULL, "orange", "Orange block list", CSI_RESET, false),
    L("adresse ip source bloquee", NULL, NULL, "orange", "Orange block list", CSI_RESET, false),
    L("csi.cloudmark.com", NULL, NULL, "cloudmark", "Cloudmark Sender Intelligence", CSI_RESET,
      false),
    L("cloudmark sender intelligence", NULL, NULL, "cloudmark", "Cloudmark Sender Intelligence",
      CSI_RESET, false),
    L("postmaster.gmx", NULL, NULL, "gmx", "GMX block list", "https://postmaster.gmx.net/", false),
    L("postmaster.web.de", NULL, NULL, "web.de", "WEB.DE block list", "https://postmaster.web.de/",
      false),
    L("help.mail.ru/notspam", NULL, NULL, "mailru", "Mail.ru reputation",
      "https://postmaster.mail.ru/", false),
    L("postmaster.mail.ru", NULL, NULL, "mailru", "Mail.ru reputation",
      "https://postmaster.mail.ru/", false),
    L("blocked by spam statistics", NULL, NULL, "yandex", "Yandex reputation",
      "https://yandex.com/support/mail/", false),
    L("postmaster.yandex", NULL, NULL, "yandex", "Yandex reputation",
      "https://yandex.com/support/mail/", false),

    /* Provider by receiving host, when the text says "blocked" without naming a list. */
    H("outlook.com", "microsoft", "Microsoft block list", MS_OLC),
    H("hotmail.com", "microsoft", "Microsoft block list", MS_OLC),
    H("google.com", "gmail", "Gmail reputation", GMAIL_HELP),
    H("gmail", "gmail", "Gmail reputation", GMAIL_HELP),
    H("yahoodns.net", "yahoo", "Yahoo/AOL reputation", YAHOO_HELP),
    H("yahoo.com", "yahoo", "Yahoo/AOL reputation", YAHOO_HELP),
    H("aol.com", "yahoo", "Yahoo/AOL reputation", YAHOO_HELP),
    H("icloud.com", "apple", "iCloud Mail reputation", "https://support.apple.com/en-us/102322"),
    H("apple.com", "apple", "iCloud Mail reputation", "https://support.apple.com/en-us/102322"),
    H("att.net", "att", "AT&T block list", "mailto:abuse_rbl@abuse-att.net"),
    H("sbcglobal.net", "att", "AT&T block list", "mailto:abuse_rbl@abuse-att.net"),
    H("comcast.net", "comcast", "Comcast block list",
      "https://postmaster.comcast.net/smtp-error-codes.php"),
    H("pphosted.com", "proofpoint", "Proofpoint Dynamic Reputation", PP_CHECK),
    H("ppe-hosted.com", "proofpoint", "Proofpoint Dynamic Reputation", PP_CHECK),
    H("mimecast", "mimecast", "Mimecast reputation",
      "https://community.mimecast.com/docs/DOC-1369"),
    H("orange.fr", "orange", "Orange block list", CSI_RESET),
    H("wanadoo.fr", "orange", "Orange block list", CSI_RESET),
    H("gmx.", "gmx", "GMX block list", "https://postmaster.gmx.net/"),
    H("web.de", "web.de", "WEB.DE block list", "https://postmaster.web.de/"),
    H("mail.ru", "mailru", "Mail.ru reputation", "https://postmaster.mail.ru/"),
    H("yandex", "yandex", "Yandex reputation", "https://yandex.com/support/mail/"),
};

/* Words that say "refused for reputation or a listing" when no row names the list. */
static const char *const bounce_block_words[] = {
    "blacklist",        "black list",     "blocklist",     "block list",
    "block listed",     "blocked using",  "is blocked",    "blocked by",
    "blocked for spam", "dnsbl",          " rbl",          "poor reputation",
    "bad reputation",   "low reputation", "ip reputation", "sender reputation",
    "listed in",        "listed at",      "listed on",     "banned sending",
};

/* Words that make it a content rejection instead. */
static const char *const bounce_content_words[] = {
    "content",         "virus",        "malware",       "attachment",
    "spam message",    "as spam",      "spam detected", "suspicion of spam",
    "looks like spam", "message body", "url in",        "phish",
};

/* Phrases followed by a zone name in generic DNSBL rejections (Postfix, Exim, ...). */
static const char *const bounce_zone_lead[] = {
    "blocked using ", "black list at ", "blacklist at ", "listed in ",
    "listed at ",     "listed on ",     "rbl on ",       "blacklisted by ",
};

/* ---- small text helpers ---- */

static const char *bounce_find(const char *hay, size_t hlen, const char *needle)
{
	size_t n = strlen(needle);
	if (n == 0 || n > hlen)
		return NULL;
	return memmem(hay, hlen, needle, n);
}

/* Case-insensitive search in text that is not lower-cased. */
static const char *bounce_ifind(const char *hay, size_t hlen, const char *needle)
{
	size_t n = strlen(needle);
	if (n == 0 || n > hlen)
		return NULL;
	for (size_t i = 0; i + n <= hlen; i++)
		if (tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[0]) &&
		    str_ieq_n(hay + i, n, needle))
			return hay + i;
	return NULL;
}

static bool bounce_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

/* "DDD" reply code at s (class 2, 4 or 5). */
static bool bounce_is_reply_code(const char *s, size_t n)
{
	return n >= 3 && (s[0] == '2' || s[0] == '4' || s[0] == '5') && bounce_isdigit(s[1]) &&
	       bounce_isdigit(s[2]);
}

/* Length of an enhanced status code "X.Y.Z" at s, 0 if none. */
static size_t bounce_status_len(const char *s, size_t n)
{
	if (n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	size_t i = 2, d = 0;
	while (i < n && bounce_isdigit(s[i]) && d < 3) {
		i++;
		d++;
	}
	if (d == 0 || i >= n || s[i] != '.')
		return 0;
	i++;
	d = 0;
	while (i < n && bounce_isdigit(s[i]) && d < 3) {
		i++;
		d++;
	}
	if (d == 0 || (i < n && (bounce_isdigit(s[i]) || s[i] == '.')))
		return 0;
	return i;
}

/* Lower-cases text into out, collapsing white space and dropping the reply-code
 * prefixes of multi-line SMTP replies so a phrase split over lines still matches. */
static void bounce_normalise(const char *s, size_t n, struct buf *out)
{
	bool seen_code = false;
	size_t i = 0;
	while (i < n) {
		bool at_word = out->len == 0 || out->data[out->len - 1] == ' ';
		if (at_word && bounce_is_reply_code(s + i, n - i) &&
		    (i + 3 == n || s[i + 3] == '-' || (s[i + 3] == ' ' && seen_code)) &&
		    (i == 0 || !bounce_isdigit(s[i - 1]))) {
			size_t k = i + 4 > n ? n : i + 4;
			size_t sl = bounce_status_len(s + k, n - k);
			if (sl && k + sl < n && (s[k + sl] == ' ' || s[k + sl] == '-'))
				k += sl + 1;
			seen_code = true;
			i = k;
			continue;
		}
		if (at_word && bounce_is_reply_code(s + i, n - i) && i + 3 < n && s[i + 3] == ' ')
			seen_code = true;
		char c = s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0') {
			if (!at_word && buf_append_char(out, ' ') != 0)
				return;
		} else if (buf_append_char(out, (char)tolower((unsigned char)c)) != 0) {
			return;
		}
		i++;
	}
}

int bounce_find_status(const char *text, size_t len, char *out, size_t size)
{
	for (size_t i = 0; i < len; i++) {
		if (i > 0 && (bounce_isdigit(text[i - 1]) || text[i - 1] == '.'))
			continue;
		size_t sl = bounce_status_len(text + i, len - i);
		if (sl)
			return str_copy_n(out, size, text + i, sl);
	}
	return -1;
}

static bool bounce_ip_char(char c)
{
	return bounce_isdigit(c) || c == '.' || c == ':' || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* Tries text[i, i+n) as an address; on success formats it to out. */
static int bounce_try_ip(const char *s, size_t n, char *out, size_t size)
{
	struct addr a;
	while (n && (s[n - 1] == '.' || s[n - 1] == ':'))
		n--;
	if (n < 7 || addr_parse(s, n, &a) != 0)
		return -1;
	addr_unmap(&a);
	return addr_format(&a, out, size);
}

int bounce_find_ip(const char *text, size_t len, char *out, size_t size)
{
	/* Bracketed first: "[203.0.113.5]", Gmail's "[203.0.113.5 15]". */
	for (size_t i = 0; i < len; i++) {
		if (text[i] != '[')
			continue;
		size_t k = i + 1;
		while (k < len && k - i < 48 && bounce_ip_char(text[k]))
			k++;
		if (k > i + 1 && bounce_try_ip(text + i + 1, k - i - 1, out, size) == 0)
			return 0;
	}
	/* Then a bare address not glued to a word. */
	for (size_t i = 0; i < len; i++) {
		if (!bounce_isdigit(text[i]) && !(text[i] >= 'a' && text[i] <= 'f') &&
		    !(text[i] >= 'A' && text[i] <= 'F'))
			continue;
		if (i > 0 && (bounce_ip_char(text[i - 1]) || isalpha((unsigned char)text[i - 1]) ||
		              text[i - 1] == '_' || text[i - 1] == '-'))
			continue;
		size_t k = i;
		while (k < len && k - i < 48 && bounce_ip_char(text[k]))
			k++;
		if (k < len &&
		    (isalpha((unsigned char)text[k]) || text[k] == '_' || text[k] == '-'))
			continue;
		if (bounce_try_ip(text + i, k - i, out, size) == 0)
			return 0;
	}
	return -1;
}

/* ---- classification ---- */

static bool bounce_has_list(const struct bounce_result *r, const char *id)
{
	for (size_t i = 0; i < r->nlists; i++)
		if (strcmp(r->lists[i].id, id) == 0)
			return true;
	return false;
}

/* Expands %IP% in a delisting template. */
static void bounce_expand(const char *tmpl, const char *ip, char *out, size_t size)
{
	struct buf b;
	buf_init(&b, size - 1);
	const char *p = tmpl;
	while (p && *p) {
		const char *m = strstr(p, "%IP%");
		size_t n = m ? (size_t)(m - p) : strlen(p);
		if (buf_append(&b, p, n) != 0)
			break;
		if (!m)
			break;
		if (buf_append_str(&b, ip) != 0)
			break;
		p = m + 4;
	}
	if (str_copy(out, size, buf_cstr(&b)) != 0) {
		/* truncated: the templates are far below the field size */
	}
	buf_free(&b);
}

static void bounce_add(struct bounce_result *r, const char *id, const char *name,
                       const char *delist, bool front)
{
	if (r->nlists >= BOUNCE_MAX_LISTS || bounce_has_list(r, id))
		return;
	size_t at = r->nlists;
	if (front) {
		memmove(&r->lists[1], &r->lists[0], r->nlists * sizeof r->lists[0]);
		at = 0;
	}
	struct bounce_list *l = &r->lists[at];
	memset(l, 0, sizeof *l);
	if (str_copy(l->id, sizeof l->id, id) != 0 ||
	    str_copy(l->name, sizeof l->name, name) != 0) {
		/* ids and names come from the table or a zone capped below the field size */
	}
	if (delist)
		bounce_expand(delist, r->listed_ip, l->delist, sizeof l->delist);
	r->nlists++;
}

static bool bounce_rule_matches(const struct bounce_rule *ru, const char *t, size_t n)
{
	const char *m = bounce_find(t, n, ru->match);
	if (!m)
		return false;
	if (!ru->then)
		return true;
	size_t off = (size_t)(m - t) + strlen(ru->match);
	return bounce_find(t + off, n - off, ru->then) != NULL;
}

static bool bounce_zone_char(char c)
{
	return (c >= 'a' && c <= 'z') || bounce_isdigit(c) || c == '.' || c == '-' || c == '_';
}

/* A DNS zone after one of bounce_zone_lead[]: at least two labels, alphabetic TLD. */
static bool bounce_generic_zone(const char *t, size_t n, char *zone, size_t size)
{
	for (size_t k = 0; k < sizeof bounce_zone_lead / sizeof bounce_zone_lead[0]; k++) {
		const char *p = t;
		size_t left = n;
		const char *m;
		while ((m = bounce_find(p, left, bounce_zone_lead[k])) != NULL) {
			size_t s = (size_t)(m - t) + strlen(bounce_zone_lead[k]);
			size_t e = s;
			while (e < n && e - s < 120 && bounce_zone_char(t[e]))
				e++;
			while (e > s && (t[e - 1] == '.' || t[e - 1] == '-'))
				e--;
			const char *dot = e > s ? memrchr(t + s, '.', e - s) : NULL;
			bool ok = dot && dot > t + s && (size_t)(t + e - dot) >= 3;
			for (const char *q = dot ? dot + 1 : t + e; ok && q < t + e; q++)
				if (*q < 'a' || *q > 'z')
					ok = false;
			if (ok && str_copy_n(zone, size, t + s, e - s) == 0)
				return true;
			p = t + s;
			left = n - s;
		}
	}
	return false;
}

static bool bounce_any_word(const char *t, size_t n, const char *const *words, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (bounce_find(t, n, words[i]))
			return true;
	return false;
}

void bounce_classify(const char *text, size_t len, const char *remote_mta,
                     struct bounce_result *out)
{
	struct buf norm;
	char family[BOUNCE_MAX_LISTS][32];
	size_t nfam = 0;
	bool dnsbl = false;

	out->blocked = false;
	out->receiver_error = false;
	out->nlists = 0;
	out->listed_ip[0] = '\0';
	buf_init(&norm, BOUNCE_MAX_TEXT);
	bounce_normalise(text, len, &norm);
	const char *t = buf_cstr(&norm);
	size_t n = norm.len;

	for (size_t i = 0; i < sizeof bounce_rules / sizeof bounce_rules[0]; i++)
		if (bounce_rules[i].kind == BOUNCE_RULE_ERROR &&
		    bounce_rule_matches(&bounce_rules[i], t, n)) {
			out->receiver_error = true;
			goto done;
		}
	if (bounce_find_ip(text, len, out->listed_ip, sizeof out->listed_ip) != 0)
		out->listed_ip[0] = '\0';

	for (size_t i = 0; i < sizeof bounce_rules / sizeof bounce_rules[0]; i++) {
		const struct bounce_rule *ru = &bounce_rules[i];
		if (ru->kind != BOUNCE_RULE_LIST || !bounce_rule_matches(ru, t, n))
			continue;
		const char *fam = ru->family ? ru->family : ru->id;
		bool dup = false;
		for (size_t f = 0; f < nfam; f++)
			if (strcmp(family[f], fam) == 0)
				dup = true;
		if (dup || nfam >= BOUNCE_MAX_LISTS)
			continue;
		if (str_copy(family[nfam], sizeof family[nfam], fam) != 0)
			continue;
		nfam++;
		bounce_add(out, ru->id, ru->name, ru->delist, false);
		dnsbl = dnsbl || ru->dnsbl;
	}
	if (out->nlists == 0) {
		char zone[128];
		if (bounce_generic_zone(t, n, zone, sizeof zone)) {
			bounce_add(out, zone, zone, NULL, false);
			dnsbl = true;
		}
	}
	out->blocked = out->nlists > 0;
	if (!out->blocked &&
	    bounce_any_word(t, n, bounce_block_words,
	                    sizeof bounce_block_words / sizeof bounce_block_words[0])) {
		char st[16];
		bool recipient_side = bounce_find_status(text, len, st, sizeof st) == 0 &&
		                      (st[2] == '1' || st[2] == '2');
		bool content =
		    bounce_any_word(t, n, bounce_content_words,
		                    sizeof bounce_content_words / sizeof bounce_content_words[0]);
		out->blocked = !recipient_side && !content;
	}
	if (out->blocked && !dnsbl && remote_mta && remote_mta[0]) {
		char host[256];
		if (str_copy(host, sizeof host, remote_mta) != 0) {
			/* a longer host name is not a host name */
		}
		str_lower(host);
		for (size_t i = 0; i < sizeof bounce_rules / sizeof bounce_rules[0]; i++) {
			const struct bounce_rule *ru = &bounce_rules[i];
			if (ru->kind == BOUNCE_RULE_RHOST && strstr(host, ru->match)) {
				bounce_add(out, ru->id, ru->name, ru->delist, true);
				break;
			}
		}
	}
done:
	if (!out->blocked)
		out->listed_ip[0] = '\0';
	if (out->receiver_error)
		out->nlists = 0;
	buf_free(&norm);
}

/* ---- message analysis ---- */

struct bounce_walk {
	struct dsn_report *dsn;
	bool have_dsn;
	bool report;     /* saw a delivery-status part */
	struct buf text; /* first text/plain part (or text/html without tags) */
	bool text_is_html;
};

/* Crude tag stripper for HTML-only NDRs: drops <...>, keeps text, decodes a few entities. */
static void bounce_html_to_text(const char *p, size_t n, struct buf *out)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = {{"&nbsp;", ' '}, {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}};
	bool in_tag = false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (in_tag) {
			if (c == '>') {
				in_tag = false;
				if (buf_append_char(out, ' ') != 0)
					return;
			}
			continue;
		}
		if (c == '<') {
			in_tag = true;
			continue;
		}
		if (c == '&') {
			bool done = false;
			for (size_t e = 0; e < sizeof ents / sizeof ents[0]; e++) {
				size_t el = strlen(ents[e].ent);
				if (n - i >= el && str_ieq_n(p + i, el, ents[e].ent)) {
					if (buf_append_char(out, ents[e].c) != 0)
						return;
					i += el - 1;
					done = true;
					break;
				}
			}
			if (done)
				continue;
		}
		if (buf_append_char(out, c) != 0)
			return;
	}
}

static int bounce_walk_part(void *ctx, const struct mime_part *part)
{
	struct bounce_walk *w = ctx;
	const struct mime_ctype *ct = part->ctype;
	if (mime_ctype_is(ct, "message", "delivery-status") ||
	    mime_ctype_is(ct, "message", "global-delivery-status")) {
		w->report = true;
		if (!w->have_dsn && dsn_parse(part->body, part->len, w->dsn) == 0)
			w->have_dsn = true;
		return 0;
	}
	if (mime_ctype_is(ct, "text", "plain") && (w->text.len == 0 || w->text_is_html)) {
		buf_reset(&w->text);
		w->text_is_html = false;
		size_t n = part->len > w->text.max ? w->text.max : part->len;
		if (buf_append(&w->text, part->body, n) != 0)
			return -1;
		return 0;
	}
	if (mime_ctype_is(ct, "text", "html") && w->text.len == 0) {
		w->text_is_html = true;
		bounce_html_to_text(part->body, part->len, &w->text);
	}
	return 0;
}

static const char *const bounce_subjects[] = {
    "undelivered mail returned to sender",
    "mail delivery failed",
    "delivery status notification (failure)",
    "delivery status notification (delay)",
    "undeliverable:",
    "undeliverable mail",
    "returned mail:",
    "failure notice",
    "mail delivery failure",
    "delivery failure",
    "delivery has failed",
    "non-delivery",
    "nondeliverable",
    "message not delivered",
    "mail system error - returned mail",
    "warning: could not send message",
};

static const char *const bounce_body_markers[] = {
    "this is the qmail-send program",
    "this message was created automatically by mail delivery software",
    "----- transcript of session follows -----",
    "this is the mail system at host",
    "delivery has failed to these recipients",
    "your message couldn't be delivered",
    "your message wasn't delivered",
    "the following message to <",
    "i'm sorry to have to inform you that your message could not",
    "remote server returned '",
    "delivery to the following recipient failed permanently",
    "delivery to the following recipients failed",
};

static bool bounce_any_ifind(const char *t, size_t n, const char *const *words, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (bounce_ifind(t, n, words[i]))
			return true;
	return false;
}

/* Copies the paragraph starting at p (lines trimmed and joined by one space, up to
 * an empty line) into dst. */
static void bounce_paragraph(const char *p, const char *end, char *dst, size_t size)
{
	struct buf b;
	buf_init(&b, size - 1);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *s = p;
		while (s < le && (*s == ' ' || *s == '\t'))
			s++;
		const char *e = le;
		while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == s && b.len)
			break;
		if (e > s) {
			if (b.len && buf_append_char(&b, ' ') != 0)
				break;
			if (buf_append(&b, s, (size_t)(e - s)) != 0) {
				if (buf_append(&b, s, b.max - b.len) != 0)
					break; /* keep what fit */
				break;
			}
		}
		p = nl ? nl + 1 : end;
	}
	if (str_copy(dst, size, buf_cstr(&b)) != 0) {
		/* cannot happen: b is bounded below size */
	}
	buf_free(&b);
}

/* Copies the rest of the line at p. */
static void bounce_rest_of_line(const char *p, const char *end, char *dst, size_t size)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *e = nl ? nl : end;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (str_copy_n(dst, size, p, (size_t)(e - p)) != 0) {
		/* truncated to the field */
	}
}

static const char *bounce_next_line(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	return nl ? nl + 1 : end;
}

static const char *bounce_line_start(const char *base, const char *p)
{
	while (p > base && p[-1] != '\n')
		p--;
	return p;
}

/* First "local@domain" in [p, end), angle brackets optional. */
static int bounce_find_address(const char *p, const char *end, char *dst, size_t size)
{
	if (p >= end) /* the line after a marker may begin past the region's end */
		return -1;
	const char *at = memchr(p, '@', (size_t)(end - p));
	while (at) {
		const char *s = at, *e = at + 1;
		while (s > p && !strchr(" \t\r\n<>\"'():;,[]", s[-1]))
			s--;
		while (e < end && !strchr(" \t\r\n<>\"'():;,[]", *e))
			e++;
		if (s < at && e > at + 1 && memchr(at, '.', (size_t)(e - at)))
			return str_copy_n(dst, size, s, (size_t)(e - s));
		at = at + 1 < end ? memchr(at + 1, '@', (size_t)(end - at - 1)) : NULL;
	}
	return -1;
}

/* Host name after "host " in the line at p ("host mx.example.net [203.0.113.9]"). */
static void bounce_host_after(const char *p, const char *end, char *dst, size_t size)
{
	size_t n = 0;
	while (p + n < end && !strchr(" \t\r\n[]:;", p[n]))
		n++;
	while (n && p[n - 1] == '.')
		n--;
	if (n && str_copy_n(dst, size, p, n) != 0)
		dst[0] = '\0';
}

/* Fills recipient, remote_mta and diagnostic from a plain-text bounce body. */
static void bounce_from_text(const char *t, size_t n, struct bounce_result *r)
{
	const char *end = t + n, *m;

	if ((m = bounce_ifind(t, n, "remote host said:"))) {
		/* qmail: "<bob@example.net>:\n203.0.113.9 does not like ...\nRemote host said: ..."
		 */
		bounce_paragraph(m + strlen("remote host said:"), end, r->diagnostic,
		                 sizeof r->diagnostic);
		const char *q = bounce_ifind(t, (size_t)(m - t), "qmail-send program");
		const char *from = q ? q : t;
		if (!r->recipient[0])
			(void)bounce_find_address(bounce_next_line(from, end), m, r->recipient,
			                          sizeof r->recipient);
		const char *c = bounce_ifind(t, n, "connected to ");
		if (c && !r->remote_mta[0])
			bounce_host_after(c + strlen("connected to "), end, r->remote_mta,
			                  sizeof r->remote_mta);
		return;
	}
	if ((m = bounce_ifind(t, n, "smtp error from remote mail"))) {
		/* Exim: the reply follows on the next (indented) lines. */
		const char *ls = bounce_line_start(t, m);
		const char *nx = bounce_next_line(m, end);
		bounce_paragraph(nx, end, r->diagnostic, sizeof r->diagnostic);
		if (!r->diagnostic[0])
			bounce_rest_of_line(m, end, r->diagnostic, sizeof r->diagnostic);
		const char *h = bounce_ifind(t, (size_t)(ls - t), "host ");
		const char *last = NULL;
		while (h) {
			last = h;
			size_t off = (size_t)(h - t) + 5;
			h = bounce_ifind(t + off, (size_t)(ls - t) - off, "host ");
		}
		if (last && !r->remote_mta[0])
			bounce_host_after(last + 5, end, r->remote_mta, sizeof r->remote_mta);
		const char *f = bounce_ifind(t, (size_t)(ls - t), "failed:");
		if (!r->recipient[0])
			(void)bounce_find_address(f ? f : t, ls, r->recipient, sizeof r->recipient);
		return;
	}
	if ((m = bounce_ifind(t, n, "remote server returned '"))) {
		/* Exchange: Remote Server returned '550 5.7.606 ...' */
		const char *s = m + strlen("remote server returned '");
		const char *q = memchr(s, '\'', (size_t)(end - s));
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *e = q && (!nl || q < nl) ? q : (nl ? nl : end);
		if (str_copy_n(r->diagnostic, sizeof r->diagnostic, s, (size_t)(e - s)) != 0) {
			/* truncated */
		}
		if (!r->recipient[0])
			(void)bounce_find_address(t, m, r->recipient, sizeof r->recipient);
		return;
	}
	if ((m = bounce_ifind(t, n, "\n<<< "))) {
		/* Sendmail transcript: the remote's replies are the "<<< " lines. */
		struct buf b;
		buf_init(&b, sizeof r->diagnostic - 1);
		const char *p = m + 1;
		while (p < end) {
			const char *le = memchr(p, '\n', (size_t)(end - p));
			if (!le)
				le = end;
			if (le - p > 4 && memcmp(p, "<<< ", 4) == 0) {
				const char *e = le;
				while (e > p + 4 && (e[-1] == '\r' || e[-1] == ' '))
					e--;
				if ((b.len && buf_append_char(&b, ' ') != 0) ||
				    buf_append(&b, p + 4, (size_t)(e - p - 4)) != 0)
					break;
			}
			p = le < end ? le + 1 : end;
		}
		if (str_copy(r->diagnostic, sizeof r->diagnostic, buf_cstr(&b)) != 0) {
			/* bounded above */
		}
		buf_free(&b);
		const char *w = bounce_ifind(t, n, "while talking to ");
		if (w && !r->remote_mta[0])
			bounce_host_after(w + strlen("while talking to "), end, r->remote_mta,
			                  sizeof r->remote_mta);
		const char *fa = bounce_ifind(t, n, "following addresses had");
		const char *rc = bounce_ifind(t, n, "rcpt to:");
		if (fa && !r->recipient[0])
			(void)bounce_find_address(bounce_next_line(fa, end), end, r->recipient,
			                          sizeof r->recipient);
		if (rc && !r->recipient[0])
			(void)bounce_find_address(rc, end, r->recipient, sizeof r->recipient);
		return;
	}
	if ((m = bounce_ifind(t, n, " said: "))) {
		/* Postfix human text: "<bob@x>: host mx.x[203.0.113.9] said: 550 ..." */
		const char *ls = bounce_line_start(t, m);
		bounce_paragraph(m + 7, end, r->diagnostic, sizeof r->diagnostic);
		const char *h = bounce_ifind(ls, (size_t)(m - ls), "host ");
		if (h && !r->remote_mta[0])
			bounce_host_after(h + 5, end, r->remote_mta, sizeof r->remote_mta);
		if (!r->recipient[0])
			(void)bounce_find_address(ls, m, r->recipient, sizeof r->recipient);
		return;
	}
	/* Anything else: the first line that starts with a 4xx/5xx reply. */
	for (const char *p = t; p < end; p = bounce_next_line(p, end)) {
		const char *s = p;
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (end - s >= 4 && (s[0] == '4' || s[0] == '5') &&
		    bounce_is_reply_code(s, (size_t)(end - s)) && (s[3] == ' ' || s[3] == '-')) {
			bounce_paragraph(s, end, r->diagnostic, sizeof r->diagnostic);
			break;
		}
	}
	if (!r->recipient[0]) {
		const char *p = bounce_ifind(t, n, "following recipient");
		if (!p)
			p = bounce_ifind(t, n, "your message to ");
		if (p)
			(void)bounce_find_address(p, end, r->recipient, sizeof r->recipient);
	}
}

/* The recipient block the bounce is about: first failed, else first delayed, else first. */
static const struct dsn_recipient *bounce_pick(const struct dsn_report *d, bool *all_ok)
{
	const struct dsn_recipient *delayed = NULL;
	*all_ok = true;
	for (size_t i = 0; i < d->nrcpt; i++) {
		const char *a = d->rcpt[i].action;
		if (strcmp(a, "failed") == 0)
			return *all_ok = false, &d->rcpt[i];
		if (strcmp(a, "delayed") == 0 && !delayed)
			delayed = &d->rcpt[i];
		if (strcmp(a, "delivered") != 0 && strcmp(a, "relayed") != 0 &&
		    strcmp(a, "expanded") != 0)
			*all_ok = false;
	}
	if (delayed) {
		*all_ok = false;
		return delayed;
	}
	return &d->rcpt[0];
}

static bool bounce_null_sender(const struct mime_headers *h)
{
	const char *rp = mime_headers_get(h, "Return-Path");
	if (!rp)
		return false;
	while (*rp == ' ')
		rp++;
	return strncmp(rp, "<>", 2) == 0;
}

static bool bounce_daemon_from(const char *from)
{
	if (!from)
		return false;
	size_t n = strlen(from);
	return bounce_ifind(from, n, "mailer-daemon") || bounce_ifind(from, n, "postmaster@") ||
	       bounce_ifind(from, n, "mail delivery system") ||
	       bounce_ifind(from, n, "mail delivery subsystem") ||
	       bounce_ifind(from, n, "microsoftexchange");
}

int bounce_analyze(const char *msg, size_t len, struct bounce_result *out)
{
	struct mime_headers h;
	struct mime_ctype ct;
	struct bounce_walk w;
	size_t body;
	int rc = -1;

	memset(out, 0, sizeof *out);
	mime_headers_init(&h);
	memset(&w, 0, sizeof w);
	buf_init(&w.text, BOUNCE_MAX_TEXT);
	w.dsn = calloc(1, sizeof *w.dsn);
	if (!w.dsn)
		goto out;
	if (mime_headers_parse(msg, len, &h, &body) != 0)
		goto out;
	const char *subject = mime_headers_get(&h, "Subject");
	const char *from = mime_headers_get(&h, "From");
	if (subject && str_copy(out->subject, sizeof out->subject, subject) != 0) {
		/* long subjects are cut, they are only shown */
	}
	mime_ctype_parse(mime_headers_get(&h, "Content-Type"), &ct);
	int wrc = mime_walk(msg, len, bounce_walk_part, &w);
	if (wrc != 0)
		goto out;

	const char *text = buf_cstr(&w.text);
	size_t tlen = w.text.len;
	bool report = w.report || (mime_ctype_is(&ct, "multipart", "report") &&
	                           strcmp(ct.report_type, "delivery-status") == 0);
	bool subj = subject && bounce_any_ifind(subject, strlen(subject), bounce_subjects,
	                                        sizeof bounce_subjects / sizeof bounce_subjects[0]);
	bool marker = bounce_any_ifind(text, tlen, bounce_body_markers,
	                               sizeof bounce_body_markers / sizeof bounce_body_markers[0]);
	out->is_bounce =
	    report || subj || marker || bounce_null_sender(&h) || bounce_daemon_from(from);

	bool from_dsn = false;
	if (w.have_dsn) {
		bool all_ok;
		const struct dsn_recipient *r = bounce_pick(w.dsn, &all_ok);
		if (all_ok)
			out->is_bounce = false; /* a success notification, not a bounce */
		(void)str_copy(out->recipient, sizeof out->recipient,
		               r->final_recipient[0] ? r->final_recipient : r->original_recipient);
		(void)str_copy(out->status, sizeof out->status, r->status);
		(void)str_copy(out->remote_mta, sizeof out->remote_mta, r->remote_mta);
		(void)str_copy(out->diagnostic, sizeof out->diagnostic, r->diagnostic);
		from_dsn = r->diagnostic[0] != '\0';
	}
	if (!out->is_bounce) {
		rc = 0;
		goto out;
	}
	if (!from_dsn) {
		/* Keep what the DSN gave (recipient, MTA) and read the rest from the text. */
		bounce_from_text(text, tlen, out);
	}
	if (!out->recipient[0]) {
		const char *xf = mime_headers_get(&h, "X-Failed-Recipients");
		if (xf)
			(void)bounce_find_address(xf, xf + strlen(xf), out->recipient,
			                          sizeof out->recipient);
	}
	if (!out->status[0] && bounce_find_status(out->diagnostic, strlen(out->diagnostic),
	                                          out->status, sizeof out->status) != 0) {
		/* No enhanced code: the reply code's class, as RFC 3463 X.0.0. */
		const char *d = out->diagnostic;
		if (bounce_is_reply_code(d, strlen(d)) && d[0] != '2' &&
		    (d[3] == ' ' || d[3] == '-'))
			(void)str_format(out->status, sizeof out->status, "%c.0.0", d[0]);
		else
			out->status[0] = '\0';
	}

	bounce_classify(out->diagnostic, strlen(out->diagnostic), out->remote_mta, out);
	if (!out->blocked && !out->receiver_error && out->nlists == 0 && tlen)
		bounce_classify(text, tlen, out->remote_mta, out);
	rc = 0;
out:
	if (rc != 0)
		memset(out, 0, sizeof *out);
	free(w.dsn);
	buf_free(&w.text);
	mime_headers_free(&h);
	return rc;
}
