/*
 * firewall - builds the nftables rule set that keeps desktops off port 25.
 * See firewall.h for what the rules are for.
 *
 * Shape of the output (one table of its own so it can be loaded and removed
 * without touching the admin's other rules):
 *
 *   table inet relayguard_smtp {
 *     sets: smtp_ports, mail4/mail6 (mail servers), lan4/lan6 (with --lan)
 *     chain smtp_egress   the decision, jumped to for TCP to smtp_ports:
 *                         to a mail server      -> return (submission, inbound MX)
 *                         from a mail server    -> log MAILSRV (rate-limited), accept
 *                         anyone else           -> log BLOCK (rate-limited), drop
 *     chain smtp_lan      with --lan only, for forwarded traffic: mail servers and
 *                         LAN sources go on to smtp_egress, others return
 *     chain forward       hook forward: a router between LAN and Internet
 *     chain output        hook output: processes on this host (loopback exempt)
 *   }
 *
 * The script starts with "table ...; delete table ..." so that loading it again
 * replaces the old version in one transaction instead of failing or doubling.
 */
#include "forensics/firewall.h"

#include "core/log.h"
#include "core/str.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void firewall_spec_init(struct firewall_spec *s)
{
	memset(s, 0, sizeof *s);
	s->ports[0] = 25;
	s->ports[1] = 465;
	s->ports[2] = 587;
	s->n_ports = 3;
	/* Both fit: the constants are far below FIREWALL_PREFIX_MAX. */
	if (str_copy(s->block_prefix, sizeof s->block_prefix, FIREWALL_PREFIX_BLOCK) != 0)
		panic("firewall_spec_init: s->block_prefix does not fit");
	if (str_copy(s->mailsrv_prefix, sizeof s->mailsrv_prefix, FIREWALL_PREFIX_MAILSRV) != 0)
		panic("firewall_spec_init: s->mailsrv_prefix does not fit");
	s->log_rate = FIREWALL_LOG_RATE_DEFAULT;
}

int firewall_spec_add_nets(struct firewall_spec *s, int lan, const char *list, char *err,
                           size_t errlen)
{
	struct cidr *arr = lan ? s->lan : s->mail;
	size_t *n = lan ? &s->n_lan : &s->n_mail;
	const char *p = list;
	for (;;) {
		p += strspn(p, ", \t");
		size_t len = strcspn(p, ", \t");
		if (len == 0)
			break;
		char shown[64];
		str_sanitize(shown, sizeof shown, p, len);
		struct cidr c;
		if (cidr_parse(p, len, &c) != 0) {
			str_format_trunc(err, errlen, "not an IP address or CIDR range: %s", shown);
			return -1;
		}
		if (c.prefix == 0) {
			str_format_trunc(err, errlen, "%s covers every address; list networks",
			                 shown);
			return -1;
		}
		if (*n >= FIREWALL_MAX_NETS) {
			str_format_trunc(err, errlen, "more than %d networks", FIREWALL_MAX_NETS);
			return -1;
		}
		arr[(*n)++] = c;
		p += len;
	}
	return 0;
}

int firewall_spec_set_ports(struct firewall_spec *s, const char *list, char *err, size_t errlen)
{
	uint16_t ports[FIREWALL_MAX_PORTS];
	size_t n = 0;
	const char *p = list;
	for (;;) {
		p += strspn(p, ", \t");
		size_t len = strcspn(p, ", \t");
		if (len == 0)
			break;
		char shown[32];
		str_sanitize(shown, sizeof shown, p, len);
		uint64_t v;
		if (str_to_u64(p, len, 1, 65535, &v) != 0) {
			str_format_trunc(err, errlen, "not a port number: %s", shown);
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			if (ports[i] == v) {
				str_format_trunc(err, errlen, "port %s listed twice", shown);
				return -1;
			}
		}
		if (n >= FIREWALL_MAX_PORTS) {
			str_format_trunc(err, errlen, "more than %d ports", FIREWALL_MAX_PORTS);
			return -1;
		}
		ports[n++] = (uint16_t)v;
		p += len;
	}
	if (n == 0) {
		str_format_trunc(err, errlen, "empty port list");
		return -1;
	}
	memcpy(s->ports, ports, n * sizeof ports[0]);
	s->n_ports = n;
	return 0;
}

int firewall_prefix_check(const char *prefix, char *err, size_t errlen)
{
	size_t len = strlen(prefix);
	if (len == 0) {
		str_format_trunc(err, errlen, "empty log prefix");
		return -1;
	}
	if (len > FIREWALL_PREFIX_MAX) {
		str_format_trunc(err, errlen, "log prefix longer than %d bytes (nftables limit)",
		                 FIREWALL_PREFIX_MAX);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)prefix[i];
		if (c < 0x20 || c > 0x7e) {
			str_format_trunc(err, errlen, "log prefix has a control or non-ASCII byte");
			return -1;
		}
		if (c == '"' || c == '\'' || c == '\\') {
			str_format_trunc(err, errlen,
			                 "log prefix may not contain quotes or backslashes");
			return -1;
		}
		if (c == '=') {
			str_format_trunc(
			    err, errlen,
			    "log prefix may not contain '=' (log lines are key=value)");
			return -1;
		}
	}
	return 0;
}

int firewall_spec_set_prefix(struct firewall_spec *s, int mailsrv, const char *prefix, char *err,
                             size_t errlen)
{
	if (firewall_prefix_check(prefix, err, errlen) != 0)
		return -1;
	char *dst = mailsrv ? s->mailsrv_prefix : s->block_prefix;
	if (str_copy(dst, FIREWALL_PREFIX_MAX + 1, prefix) != 0) {
		str_format_trunc(err, errlen, "log prefix too long");
		return -1;
	}
	return 0;
}

/* Compares prefixes ignoring surrounding spaces: the kernel prints them glued to "IN=". */
static bool firewall_prefix_same(const char *a, const char *b)
{
	while (*a == ' ')
		a++;
	while (*b == ' ')
		b++;
	size_t la = strlen(a), lb = strlen(b);
	while (la > 0 && a[la - 1] == ' ')
		la--;
	while (lb > 0 && b[lb - 1] == ' ')
		lb--;
	return la == lb && memcmp(a, b, la) == 0;
}

int firewall_spec_validate(const struct firewall_spec *s, char *err, size_t errlen)
{
	if (s->n_mail == 0) {
		str_format_trunc(err, errlen, "no mail servers given (--mail-servers CIDR,...)");
		return -1;
	}
	if (s->n_ports == 0 || s->n_ports > FIREWALL_MAX_PORTS) {
		str_format_trunc(err, errlen, "no ports");
		return -1;
	}
	if (firewall_prefix_check(s->block_prefix, err, errlen) != 0 ||
	    firewall_prefix_check(s->mailsrv_prefix, err, errlen) != 0)
		return -1;
	if (firewall_prefix_same(s->block_prefix, s->mailsrv_prefix)) {
		str_format_trunc(err, errlen, "the block and mail server log prefixes must differ");
		return -1;
	}
	if (s->log_rate == 0 || s->log_rate > 10000) {
		str_format_trunc(err, errlen, "log rate must be 1..10000 per minute");
		return -1;
	}
	return 0;
}

static int firewall_cidr_cmp(const void *a, const void *b)
{
	const struct cidr *x = a, *y = b;
	int c = addr_compare(&x->addr, &y->addr);
	if (c != 0)
		return c;
	return (int)x->prefix - (int)y->prefix;
}

/* Copies the networks of one family into out, sorted, with those inside another
 * listed network dropped: nft refuses overlapping intervals in one set. */
static size_t firewall_nets_family(const struct cidr *in, size_t n, int family, struct cidr *out)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (in[i].addr.family == family)
			out[m++] = in[i];
	if (m == 0)
		return 0;
	qsort(out, m, sizeof out[0], firewall_cidr_cmp);
	size_t k = 0;
	for (size_t i = 0; i < m; i++) {
		/* Sorted by address then prefix: a container comes before what it contains. */
		if (k > 0 && cidr_contains(&out[k - 1], &out[i].addr) &&
		    out[k - 1].prefix <= out[i].prefix)
			continue;
		out[k++] = out[i];
	}
	return k;
}

static int firewall_render_set(struct buf *b, const char *name, const char *type,
                               const struct cidr *nets, size_t n)
{
	if (buf_printf(b, "\tset %s {\n\t\ttype %s\n\t\tflags interval\n", name, type) != 0)
		return -1;
	if (n > 0) {
		if (buf_append_str(b, "\t\telements = {") != 0)
			return -1;
		for (size_t i = 0; i < n; i++) {
			char txt[CIDR_STRLEN];
			unsigned full = addr_bits(&nets[i].addr);
			int rc = nets[i].prefix == full
			             ? addr_format(&nets[i].addr, txt, sizeof txt)
			             : cidr_format(&nets[i], txt, sizeof txt);
			if (rc != 0)
				return -1;
			if (buf_printf(b, "%s%s", i ? ", " : " ", txt) != 0)
				return -1;
		}
		if (buf_append_str(b, " }\n") != 0)
			return -1;
	}
	return buf_append_str(b, "\t}\n\n");
}

static int firewall_render_body(const struct firewall_spec *s, struct buf *b)
{
	struct cidr tmp[FIREWALL_MAX_NETS];
	unsigned rate = s->log_rate, burst = s->log_rate * 2;
	size_t n;

	if (buf_append_str(b, "#!/usr/sbin/nft -f\n"
	                      "# relayguard firewall: only the mail servers may send SMTP out.\n"
	                      "#   load:   nft -f FILE\n"
	                      "#   list:   nft list table inet " FIREWALL_TABLE "\n"
	                      "#   remove: nft delete table inet " FIREWALL_TABLE "\n"
	                      "# Loading again replaces the old version (first two lines).\n"
	                      "table inet " FIREWALL_TABLE "\n"
	                      "delete table inet " FIREWALL_TABLE "\n\n"
	                      "table inet " FIREWALL_TABLE " {\n"
	                      "\tset smtp_ports {\n\t\ttype inet_service\n\t\telements = {") != 0)
		return -1;
	for (size_t i = 0; i < s->n_ports; i++)
		if (buf_printf(b, "%s%u", i ? ", " : " ", (unsigned)s->ports[i]) != 0)
			return -1;
	if (buf_append_str(b, " }\n\t}\n\n") != 0)
		return -1;

	n = firewall_nets_family(s->mail, s->n_mail, 4, tmp);
	if (firewall_render_set(b, "mail4", "ipv4_addr", tmp, n) != 0)
		return -1;
	n = firewall_nets_family(s->mail, s->n_mail, 6, tmp);
	if (firewall_render_set(b, "mail6", "ipv6_addr", tmp, n) != 0)
		return -1;
	size_t n_lan4 = firewall_nets_family(s->lan, s->n_lan, 4, tmp);
	if (n_lan4 > 0 && firewall_render_set(b, "lan4", "ipv4_addr", tmp, n_lan4) != 0)
		return -1;
	size_t n_lan6 = firewall_nets_family(s->lan, s->n_lan, 6, tmp);
	if (n_lan6 > 0 && firewall_render_set(b, "lan6", "ipv6_addr", tmp, n_lan6) != 0)
		return -1;

	if (buf_printf(b,
	               "\tchain smtp_egress {\n"
	               "\t\t# to our own mail servers: submission from the LAN, inbound MX\n"
	               "\t\tip daddr @mail4 return\n"
	               "\t\tip6 daddr @mail6 return\n"
	               "\t\t# the mail servers may send; each new connection is logged\n"
	               "\t\tip saddr @mail4 ct state new limit rate %u/minute burst %u packets "
	               "log prefix \"%s\" level info\n"
	               "\t\tip saddr @mail4 counter accept\n"
	               "\t\tip6 saddr @mail6 ct state new limit rate %u/minute burst %u packets "
	               "log prefix \"%s\" level info\n"
	               "\t\tip6 saddr @mail6 counter accept\n",
	               rate, burst, s->mailsrv_prefix, rate, burst, s->mailsrv_prefix) != 0)
		return -1;
	if (buf_printf(b,
	               "\t\t# anyone else: log (rate-limited so a bot cannot flood the log), drop\n"
	               "\t\tct state new limit rate %u/minute burst %u packets "
	               "log prefix \"%s\" level warn\n"
	               "\t\tcounter drop\n"
	               "\t}\n\n",
	               rate, burst, s->block_prefix) != 0)
		return -1;
	bool lan = n_lan4 > 0 || n_lan6 > 0;
	if (lan && buf_append_str(b, "\tchain smtp_lan {\n"
	                             "\t\t# forwarded traffic: only the LAN (and the mail servers) "
	                             "is checked\n"
	                             "\t\tip saddr @mail4 goto smtp_egress\n"
	                             "\t\tip6 saddr @mail6 goto smtp_egress\n") != 0)
		return -1;
	if (n_lan4 > 0 && buf_append_str(b, "\t\tip saddr != @lan4 return\n") != 0)
		return -1;
	if (n_lan6 > 0 && buf_append_str(b, "\t\tip6 saddr != @lan6 return\n") != 0)
		return -1;
	if (lan && buf_append_str(b, "\t\tgoto smtp_egress\n\t}\n\n") != 0)
		return -1;
	if (buf_printf(b,
	               "\tchain forward {\n"
	               "\t\ttype filter hook forward priority filter; policy accept;\n"
	               "\t\ttcp dport @smtp_ports jump %s\n"
	               "\t}\n\n"
	               "\t# processes on this host are always checked, whatever --lan says\n"
	               "\tchain output {\n"
	               "\t\ttype filter hook output priority filter; policy accept;\n"
	               "\t\toifname \"lo\" accept\n"
	               "\t\ttcp dport @smtp_ports jump smtp_egress\n"
	               "\t}\n"
	               "}\n",
	               lan ? "smtp_lan" : "smtp_egress") != 0)
		return -1;
	return 0;
}

int firewall_render(const struct firewall_spec *s, struct buf *out, char *err, size_t errlen)
{
	if (firewall_spec_validate(s, err, errlen) != 0)
		return -1;
	size_t start = out->len;
	if (firewall_render_body(s, out) != 0) {
		/* Leave out as it was rather than with half a rule set. */
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		str_format_trunc(err, errlen, "rule set does not fit in %zu bytes", out->max);
		return -1;
	}
	return 0;
}
