/*
 * brules - the bounce classification rules: a data file (data/bounce-rules.conf,
 * compiled into the binary; `bounce --rules FILE` replaces it) that says which
 * texts name a blocklist or provider, which texts are the receiver's own DNSBL
 * failure, and which reason class a rejection belongs to, decided from the
 * enhanced status code, the SMTP reply code, the session stage, the remote MTA
 * and patterns over the diagnostic text, with priorities.
 *
 * Format: docs/bounce.md, "The rules file". Patterns are matched against text
 * normalised by the caller (lower case, white space collapsed, multi-line reply
 * prefixes removed, one space added at both ends).
 */
#ifndef RG_FORENSICS_BRULES_H
#define RG_FORENSICS_BRULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BRULES_MAX_RULES 4096   /* sections */
#define BRULES_MAX_PATTERNS 256 /* pattern lines of one kind in one section */
#define BRULES_MAX_TEXT 1024    /* bytes of one value */

enum brules_kind {
	BRULES_LIST,     /* [list ID]: the text names this list or provider: blocked */
	BRULES_ERROR,    /* [error]: the receiver's own DNSBL lookup failed */
	BRULES_PROVIDER, /* [provider ID]: provider by remote MTA, for blocks naming no list */
	BRULES_REASON,   /* [reason CLASS]: a reason class with a priority */
};

/* Session stage the rejection came at (from the bounce's own words). */
enum brules_stage {
	BRULES_STAGE_UNKNOWN = 0,
	BRULES_STAGE_CONNECT,
	BRULES_STAGE_HELO,
	BRULES_STAGE_MAIL,
	BRULES_STAGE_RCPT,
	BRULES_STAGE_DATA,
};

struct brules_rule {
	enum brules_kind kind;
	char *id;        /* list id, provider id, or reason class */
	char *name;      /* list/provider display name; reason: the "detail" */
	char *family;    /* lists: one list per family and message */
	char *delist;    /* %IP% becomes the listed IP */
	bool dnsbl;      /* a public DNS list (no provider-by-host attribution) */
	int priority;    /* reasons */
	unsigned stages; /* bit (1 << stage); 0 = any */
	char **match;    /* any of them (none: the other conditions decide) */
	size_t nmatch;
	char **require; /* every one of them */
	size_t nrequire;
	char **unless; /* none of them */
	size_t nunless;
	char **status; /* fnmatch globs over the enhanced status, any */
	size_t nstatus;
	char **not_status;
	size_t nnot_status;
	char **reply; /* globs over the 3-digit reply code, any */
	size_t nreply;
	char **host; /* substrings of the remote MTA (or recipient domain), any */
	size_t nhost;
	int line; /* where the section starts, for messages */
};

struct brules {
	struct brules_rule *rules;
	size_t count;
	size_t *by_priority; /* indexes of the [reason] sections, highest priority first,
	                        file order on a tie */
	size_t nreasons;
	int list_priority; /* a reason candidate "blocked" when a list is named */
};

/* What a rule is checked against. text is normalised and space-padded. */
struct brules_input {
	const char *text;
	size_t len;
	const char *status; /* "5.7.1" or "" */
	const char *reply;  /* "554" or "" */
	const char *host;   /* lower-case remote MTA, or "" */
	const char *domain; /* lower-case recipient domain, or "" */
	enum brules_stage stage;
	const uint64_t *bigrams; /* NULL, or BRULES_BIGRAM_WORDS words from brules_bigrams() */
};

#define BRULES_BIGRAM_WORDS 64 /* 4096 bits: the low 6 bits of both bytes of a pair */

/* Marks every pair of adjacent bytes of text in bits (BRULES_BIGRAM_WORDS
 * words, pairs folded to their low 6 bits): a pattern with a pair that is not
 * there cannot match, which spares most searches. */
void brules_bigrams(const char *text, size_t len, uint64_t *bits);

/* Parses rules text; on error nothing is kept and err says "name:line: what". */
int brules_load_string(struct brules *r, const char *text, size_t len, const char *name, char *err,
                       size_t errlen);
int brules_load_file(struct brules *r, const char *path, char *err, size_t errlen);
void brules_free(struct brules *r);

/* The rules compiled into the binary, parsed on first use; NULL if they do not
 * parse (a build error the unit tests catch). */
const struct brules *brules_builtin(void);
const char *brules_builtin_text(void);

/* Does rule ru hold for in? (patterns, status, reply, host, stage) */
bool brules_rule_matches(const struct brules_rule *ru, const struct brules_input *in);

/* Is host (lower case) one of the rule's host substrings? */
bool brules_host_matches(const struct brules_rule *ru, const char *host);

/* One pattern against normalised text: '*' is any gap, '|' separates
 * alternatives, "{ip}" is an IPv4 or IPv6 address. */
bool brules_pattern_matches(const char *pat, const char *text, size_t len);
/* Same, skipping searches the bigram bits rule out (bits may be NULL). */
bool brules_pattern_matches_bits(const char *pat, const char *text, size_t len,
                                 const uint64_t *bits);

/* The name of a stage for rules ("connect", ...); NULL for unknown. */
const char *brules_stage_name(enum brules_stage s);

#endif
