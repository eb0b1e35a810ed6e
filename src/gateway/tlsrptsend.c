/*
 * tlsrptsend - the TLS-RPT record parser, the report message and the
 * sender that finds due reports; see tlsrptsend.h.
 */
#include "gateway/tlsrptsend.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/str.h"
#include "gateway/gwalert.h"
#include "net/dns.h"
#include "queue/queue.h"
#include "smtp/address.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define TLSRPT_DAY_MS 86400000LL
#define TLSRPT_GRACE_MS 120000LL    /* the writer flushes within a minute */
#define TLSRPT_SCAN_MS 300000LL     /* how often the state directory is looked at */
#define TLSRPT_JSON_MAX (4u << 20)  /* a report bigger than this is not sent */
#define TLSRPT_MAIL_MAX (12u << 20) /* the whole message */

/* ---- the record (RFC 8460 §3) ---- */

static int tlsrpt_fail(char *err, size_t errlen, const char *what)
{
	str_format_trunc(err, errlen, "%s", what);
	return -1;
}

static bool tlsrpt_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* One URI of rua (p, n: without spaces, commas, semicolons). */
static int tlsrpt_uri(const char *p, size_t n, struct tlsrpt_record *out, char *err, size_t errlen)
{
	if (n == 0)
		return tlsrpt_fail(err, errlen, "rua: an empty URI");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return tlsrpt_fail(err, errlen,
			                   "rua: a URI with a space or control character");
	if (n > 7 && strncasecmp(p, "mailto:", 7) == 0) {
		char addr[TLSRPT_URI_MAX];
		size_t k = 0;
		for (size_t i = 7; i < n && p[i] != '?'; i++) {
			char c = p[i];
			if (c == '%') {
				int h = i + 2 < n ? str_hex_value(p[i + 1]) : -1;
				int l = i + 2 < n ? str_hex_value(p[i + 2]) : -1;
				if (h < 0 || l < 0)
					return tlsrpt_fail(err, errlen,
					                   "rua: a bad %-escape in mailto:");
				c = (char)(h * 16 + l);
				i += 2;
			}
			if ((unsigned char)c <= 0x20 || (unsigned char)c >= 0x7f ||
			    strchr("<>,;\"()\\", c))
				return tlsrpt_fail(err, errlen, "rua: mailto: is not one address");
			if (k + 1 >= sizeof addr)
				return tlsrpt_fail(err, errlen, "rua: mailto: address too long");
			addr[k++] = c;
		}
		addr[k] = '\0';
		struct smtp_address m;
		if (smtp_address_mailbox(addr, k, 0, &m) != SMTP_ADDRESS_OK)
			return tlsrpt_fail(err, errlen, "rua: mailto: is not local@domain");
		if (out->nmailto == TLSRPT_RUA_MAX)
			return tlsrpt_fail(err, errlen, "rua: too many mailto: URIs");
		if (str_copy(out->mailto[out->nmailto++], TLSRPT_URI_MAX, addr) != 0)
			return tlsrpt_fail(err, errlen, "rua: mailto: URI too long");
		return 0;
	}
	if (n > 8 && strncasecmp(p, "https://", 8) == 0) {
		if (n >= TLSRPT_URI_MAX)
			return tlsrpt_fail(err, errlen, "rua: https: URI too long");
		if (out->nhttps == TLSRPT_RUA_MAX)
			return tlsrpt_fail(err, errlen, "rua: too many https: URIs");
		if (str_copy_n(out->https[out->nhttps++], TLSRPT_URI_MAX, p, n) != 0)
			panic("tlsrpt_uri: out->https[out->nhttps++] does not fit");
		return 0;
	}
	size_t s = 0;
	while (s < n && p[s] != ':')
		s++;
	if (s == 0 || s == n)
		return tlsrpt_fail(err, errlen, "rua: not a URI");
	return 0; /* another scheme: not for us */
}

/* rua=URI *(*WSP "," *WSP URI): v, n the value. */
static int tlsrpt_rua(const char *v, size_t n, struct tlsrpt_record *out, char *err, size_t errlen)
{
	size_t i = 0;
	for (;;) {
		size_t s = i;
		while (i < n && v[i] != ',' && !tlsrpt_wsp(v[i]))
			i++;
		if (tlsrpt_uri(v + s, i - s, out, err, errlen) != 0)
			return -1;
		while (i < n && tlsrpt_wsp(v[i]))
			i++;
		if (i == n)
			return 0;
		if (v[i] != ',')
			return tlsrpt_fail(err, errlen, "rua: URIs not separated by ','");
		i++;
		while (i < n && tlsrpt_wsp(v[i]))
			i++;
	}
}

/* An extension field: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 * "=" 1*(%x21-3A / %x3C / %x3E-7E). */
static bool tlsrpt_ext_ok(const char *f, size_t n)
{
	size_t i = 0;
	while (i < n && f[i] != '=') {
		char c = f[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || !strchr("_-.", c)))
			return false;
		i++;
	}
	if (i == 0 || i > 32 || i == n || i + 1 == n)
		return false;
	for (i++; i < n; i++) {
		unsigned char c = (unsigned char)f[i];
		if (c < 0x21 || c > 0x7e || c == ';' || c == '=')
			return false;
	}
	return true;
}

/* One record: "v=TLSRPTv1" 1*(field-delim field) [field-delim]. */
static int tlsrpt_one(const char *p, size_t n, struct tlsrpt_record *out, char *err, size_t errlen)
{
	size_t i = 10; /* "v=TLSRPTv1" checked by the caller */
	bool rua = false;
	for (;;) {
		while (i < n && tlsrpt_wsp(p[i]))
			i++;
		if (i == n)
			break;
		if (p[i] != ';')
			return tlsrpt_fail(err, errlen, "fields not separated by ';'");
		i++;
		while (i < n && tlsrpt_wsp(p[i]))
			i++;
		if (i == n)
			break; /* a trailing delimiter */
		size_t s = i;
		while (i < n && p[i] != ';')
			i++;
		size_t e = i;
		while (e > s && tlsrpt_wsp(p[e - 1]))
			e--;
		if (e - s > 4 && strncmp(p + s, "rua=", 4) == 0) {
			if (rua)
				return tlsrpt_fail(err, errlen, "more than one rua");
			rua = true;
			if (tlsrpt_rua(p + s + 4, e - s - 4, out, err, errlen) != 0)
				return -1;
		} else if (!tlsrpt_ext_ok(p + s, e - s)) {
			return tlsrpt_fail(err, errlen,
			                   "a field that is neither rua nor name=value");
		}
	}
	if (!rua)
		return tlsrpt_fail(err, errlen, "no rua");
	if (out->nmailto + out->nhttps == 0)
		return tlsrpt_fail(err, errlen, "rua: no mailto: or https: URI");
	return 0;
}

int tlsrpt_record_parse(const char *txt, size_t len, struct tlsrpt_record *out, char *err,
                        size_t errlen)
{
	memset(out, 0, sizeof *out);
	const char *found = NULL;
	size_t found_n = 0;
	size_t i = 0;
	while (i <= len) {
		size_t s = i;
		while (i < len && !(i + 3 <= len && memcmp(txt + i, " | ", 3) == 0))
			i++;
		size_t n = i - s;
		if (n >= 10 && memcmp(txt + s, "v=TLSRPTv1", 10) == 0 &&
		    (n == 10 || tlsrpt_wsp(txt[s + 10]) || txt[s + 10] == ';')) {
			if (found)
				return tlsrpt_fail(err, errlen, "more than one v=TLSRPTv1 record");
			found = txt + s;
			found_n = n;
		}
		if (i >= len)
			break;
		i += 3;
	}
	if (!found)
		return tlsrpt_fail(err, errlen, "no v=TLSRPTv1 record");
	if (memchr(found, '\0', found_n))
		return tlsrpt_fail(err, errlen, "a NUL in the record");
	return tlsrpt_one(found, found_n, out, err, errlen);
}

/* n digits at p as a number, or -1. */
static int tlsrpt_digits(const char *p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

bool tlsrpt_report_due(const char *day, int64_t now_ms)
{
	if (strlen(day) != 10 || day[4] != '-' || day[7] != '-')
		return false;
	int y = tlsrpt_digits(day, 4), m = tlsrpt_digits(day + 5, 2), d = tlsrpt_digits(day + 8, 2);
	if (y < 0 || m < 1 || m > 12 || d < 1 || d > 31)
		return false;
	int64_t end_ms = (clock_days_from_civil(y, (unsigned)m, (unsigned)d) + 1) * TLSRPT_DAY_MS;
	return now_ms >= end_ms + TLSRPT_GRACE_MS;
}

/* ---- the message (RFC 8460 §5.3) ---- */

/* data gzip-compressed (RFC 1952), into *out (malloc'd). 0 or -1. */
static int tlsrpt_gzip(const char *data, size_t len, unsigned char **out, size_t *outlen)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -1;
	uLong cap = deflateBound(&z, (uLong)len) + 32;
	unsigned char *p = malloc(cap);
	if (!p) {
		deflateEnd(&z);
		return -1;
	}
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	z.next_out = p;
	z.avail_out = (uInt)cap;
	int rc = deflate(&z, Z_FINISH);
	*outlen = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

/* s fit for a header field: no control characters. */
static bool tlsrpt_hdr_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

char *tlsrpt_mail_render(const char *json, size_t len, const char *domain, const char *submitter,
                         const char *report_id, int64_t start_s, int64_t end_s, const char *from,
                         const char *to, int64_t now_ms, const char *msgid_local)
{
	const char *fields[] = {domain, submitter, report_id, from, to, msgid_local};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (!tlsrpt_hdr_ok(fields[i]) || strlen(fields[i]) > 400)
			return NULL;
	if (len > TLSRPT_JSON_MAX)
		return NULL;
	char date[64];
	if (clock_format_rfc5322(now_ms, true, date, sizeof date) != 0)
		return NULL;
	unsigned char *gz = NULL;
	size_t gzlen = 0;
	if (tlsrpt_gzip(json, len, &gz, &gzlen) != 0)
		return NULL;
	char *b64 = malloc(4 * ((gzlen + 2) / 3) + 1);
	if (!b64) {
		free(gz);
		return NULL;
	}
	int b64len = EVP_EncodeBlock((unsigned char *)b64, gz, (int)gzlen);
	free(gz);
	char boundary[96];
	if (str_format(boundary, sizeof boundary, "=_tlsrpt_%s", msgid_local) != 0)
		panic("tlsrpt_mail_render: boundary does not fit");
	struct buf b;
	buf_init(&b, TLSRPT_MAIL_MAX);
	int rc = buf_printf(&b,
	                    "Date: %s\r\nFrom: <%s>\r\nTo: <%s>\r\n"
	                    "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n"
	                    "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\n"
	                    "Message-ID: <%s@%s>\r\nAuto-Submitted: auto-generated\r\n"
	                    "MIME-Version: 1.0\r\n"
	                    "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
	                    "    boundary=\"%s\"\r\n\r\n"
	                    "This is a multipart message in MIME format.\r\n\r\n"
	                    "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
	                    "This is an aggregate TLS report (RFC 8460) from %s\r\n"
	                    "for the policy domain %s.\r\n\r\n"
	                    "--%s\r\nContent-Type: application/tlsrpt+gzip;\r\n"
	                    "    name=\"%s!%s!%lld!%lld.json.gz\"\r\n"
	                    "Content-Disposition: attachment;\r\n"
	                    "    filename=\"%s!%s!%lld!%lld.json.gz\"\r\n"
	                    "Content-Transfer-Encoding: base64\r\n\r\n",
	                    date, from, to, domain, submitter, report_id, domain, submitter,
	                    msgid_local, submitter, boundary, boundary, submitter, domain, boundary,
	                    submitter, domain, (long long)start_s, (long long)end_s, submitter,
	                    domain, (long long)start_s, (long long)end_s);
	for (int i = 0; i < b64len && rc == 0; i += 76) {
		int n = b64len - i < 76 ? b64len - i : 76;
		rc = buf_append(&b, b64 + i, (size_t)n) || buf_append_str(&b, "\r\n");
	}
	free(b64);
	rc = rc || buf_printf(&b, "\r\n--%s--\r\n", boundary);
	if (rc != 0) {
		buf_free(&b);
		return NULL;
	}
	return b.data; /* NUL-terminated, owned by the caller now */
}

/* ---- the sender ---- */

/* One report on its way: a lookup, then the commits. Detached from s when
 * s is freed first (its callbacks then only free it). */
struct tlsrpt_job {
	struct tlsrptsend *s;
	char day[16];
	char domain[256];
	unsigned pending; /* commits not yet answered */
	bool failed;
};

struct tlsrptsend {
	struct dns *dns;
	struct queue *q;
	char dir[600];
	char submitter[256];
	char from[320];
	int64_t next_scan_ms;   /* 0: at the first tick */
	struct tlsrpt_job *job; /* the one in flight, NULL: none */
	unsigned seq;
};

struct tlsrptsend *tlsrptsend_new(struct dns *dns, struct queue *q, const char *state_dir,
                                  const char *submitter, const char *from)
{
	struct tlsrptsend *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->dns = dns;
	s->q = q;
	if (str_format(s->dir, sizeof s->dir, "%s/tls-rpt", state_dir) != 0 ||
	    str_copy(s->submitter, sizeof s->submitter, submitter) != 0 ||
	    str_copy(s->from, sizeof s->from, from) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static int tlsrpt_path(const struct tlsrptsend *s, const struct tlsrpt_job *j, const char *ext,
                       char *out, size_t size)
{
	return str_format(out, size, "%s/%s/%s.%s", s->dir, j->day, j->domain, ext);
}

/* The report is done with: DOMAIN.sent says how. */
static void tlsrpt_mark(struct tlsrptsend *s, const struct tlsrpt_job *j, const char *how)
{
	char path[1000], err[200];
	if (tlsrpt_path(s, j, "sent", path, sizeof path) != 0 ||
	    fsutil_write_atomic(path, how, strlen(how), 0600, err, sizeof err) != 0)
		log_warn("tls-rpt: cannot mark %s/%s as sent: %s", j->day, j->domain, err);
}

static void tlsrpt_job_end(struct tlsrpt_job *j)
{
	struct tlsrptsend *s = j->s;
	if (s) {
		if (!j->failed)
			tlsrpt_mark(s, j, "sent\n");
		s->job = NULL;
		/* the next report at once; after a failure, this one again later */
		s->next_scan_ms = j->failed ? clock_realtime_ms() + TLSRPT_SCAN_MS : 0;
	}
	free(j);
}

static void tlsrpt_on_queued(void *arg, int status, const char *id)
{
	struct tlsrpt_job *j = arg;
	if (status == 0)
		log_info("tls-rpt: queue_id=%s report of %s for %s queued", id, j->domain, j->day);
	else {
		log_error("tls-rpt: the report of %s for %s could not be queued", j->domain,
		          j->day);
		j->failed = true;
	}
	if (--j->pending == 0)
		tlsrpt_job_end(j);
}

/* Reads the report, queues one message per mailto: rua. */
static void tlsrpt_queue(struct tlsrptsend *s, struct tlsrpt_job *j, const struct tlsrpt_record *r)
{
	char path[1000];
	json_error_t jerr;
	json_t *root = NULL;
	if (tlsrpt_path(s, j, "json", path, sizeof path) == 0)
		root = json_load_file(path, 0, &jerr);
	const char *id = json_string_value(json_object_get(root, "report-id"));
	json_t *range = json_object_get(root, "date-range");
	const char *start = json_string_value(json_object_get(range, "start-datetime"));
	const char *end = json_string_value(json_object_get(range, "end-datetime"));
	int64_t start_ms = 0, end_ms = 0;
	char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	if (!id || !start || !end || !text || clock_parse_rfc3339(start, &start_ms) != 0 ||
	    clock_parse_rfc3339(end, &end_ms) != 0) {
		log_warn("tls-rpt: %s: not a report; not sent", path);
		tlsrpt_mark(s, j, "not a report\n");
		free(text);
		json_decref(root);
		j->s = NULL;
		s->job = NULL;
		free(j);
		return;
	}
	j->pending = 1; /* held while the commits are started */
	for (unsigned i = 0; i < r->nmailto; i++) {
		struct queue_msg *m = queue_msg_new(s->q);
		if (!m) {
			j->failed = true;
			break;
		}
		char local[80];
		if (str_format(local, sizeof local, "%s.tlsrpt%u", queue_msg_id(m), ++s->seq) != 0)
			panic("tlsrpt_queue: local does not fit");
		char *mail = tlsrpt_mail_render(text, strlen(text), j->domain, s->submitter, id,
		                                start_ms / 1000, end_ms / 1000, s->from,
		                                r->mailto[i], clock_realtime_ms(), local);
		const char(*to)[320] = (const char(*)[320])r->mailto[i];
		j->pending++;
		if (gwalert_queue_text(m, s->from, to, 1, "tlsrpt", mail, tlsrpt_on_queued, j) !=
		    0) {
			log_error(
			    "tls-rpt: the report of %s for %s could not be written to the queue",
			    j->domain, j->day);
			j->pending--;
			j->failed = true;
		}
		free(mail);
	}
	free(text);
	json_decref(root);
	if (--j->pending == 0)
		tlsrpt_job_end(j);
}

static void tlsrpt_on_txt(void *arg, const struct dns_result *res)
{
	struct tlsrpt_job *j = arg;
	struct tlsrptsend *s = j->s;
	if (!s) {
		free(j);
		return;
	}
	struct tlsrpt_record r;
	char err[160];
	if (res->status == DNS_OK &&
	    tlsrpt_record_parse(res->txt, strlen(res->txt), &r, err, sizeof err) == 0) {
		for (unsigned i = 0; i < r.nhttps; i++)
			log_info(
			    "tls-rpt: rua %s of %s: https: reporting is not supported; skipped",
			    r.https[i], j->domain);
		if (r.nmailto > 0) {
			tlsrpt_queue(s, j, &r);
			return;
		}
		tlsrpt_mark(s, j, "no mailto: rua\n");
	} else if (res->status == DNS_OK || res->status == DNS_NXDOMAIN ||
	           res->status == DNS_NODATA) {
		if (res->status != DNS_OK)
			str_copy_trunc(err, sizeof err, "no record");
		log_info("tls-rpt: _smtp._tls.%s: %s; the report of %s is not sent", j->domain, err,
		         j->day);
		tlsrpt_mark(s, j, "no valid record\n");
	} else {
		log_warn("tls-rpt: _smtp._tls.%s: %s; the report of %s waits", j->domain,
		         dns_status_name(res->status), j->day);
		s->job = NULL;
		s->next_scan_ms = clock_realtime_ms() + TLSRPT_SCAN_MS;
		free(j);
		return;
	}
	s->job = NULL;
	s->next_scan_ms = 0;
	free(j);
}

static bool tlsrpt_exists(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f)
		fclose(f);
	return f != NULL;
}

/* The first due, unsent report into j (day and domain). 1 found, 0 none. */
static int tlsrpt_find(struct tlsrptsend *s, int64_t now_ms, struct tlsrpt_job *j)
{
	DIR *top = opendir(s->dir);
	if (!top)
		return 0;
	int found = 0;
	struct dirent *de;
	while (!found && (de = readdir(top))) {
		if (!tlsrpt_report_due(de->d_name, now_ms))
			continue;
		char day[700];
		if (str_format(day, sizeof day, "%s/%s", s->dir, de->d_name) != 0)
			continue;
		DIR *dd = opendir(day);
		struct dirent *fe;
		while (dd && !found && (fe = readdir(dd))) {
			size_t n = strlen(fe->d_name);
			if (n <= 5 || n - 5 >= sizeof j->domain ||
			    strcmp(fe->d_name + n - 5, ".json") != 0)
				continue;
			if (str_copy(j->day, sizeof j->day, de->d_name) != 0)
				continue;
			if (str_copy_n(j->domain, sizeof j->domain, fe->d_name, n - 5) != 0)
				panic("tlsrpt_find: j->domain does not fit");
			char sent[1000];
			if (tlsrpt_path(s, j, "sent", sent, sizeof sent) == 0 &&
			    !tlsrpt_exists(sent))
				found = 1;
		}
		if (dd)
			closedir(dd);
	}
	closedir(top);
	return found;
}

void tlsrptsend_tick(struct tlsrptsend *s, int64_t now_ms)
{
	if (!s || s->job || now_ms < s->next_scan_ms)
		return;
	struct tlsrpt_job *j = calloc(1, sizeof *j);
	if (!j)
		return;
	if (tlsrpt_find(s, now_ms, j) != 1) {
		free(j);
		s->next_scan_ms = now_ms + TLSRPT_SCAN_MS;
		return;
	}
	j->s = s;
	char name[300];
	if (str_format(name, sizeof name, "_smtp._tls.%s", j->domain) != 0 ||
	    dns_query(s->dns, name, DNS_T_TXT, tlsrpt_on_txt, j) != 0) {
		log_warn("tls-rpt: cannot look up _smtp._tls.%s", j->domain);
		free(j);
		s->next_scan_ms = now_ms + TLSRPT_SCAN_MS;
		return;
	}
	s->job = j;
}

void tlsrptsend_free(struct tlsrptsend *s)
{
	if (!s)
		return;
	if (s->job)
		s->job->s = NULL;
	free(s);
}
