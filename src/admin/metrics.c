/*
 * metrics - registry and Prometheus text rendering; see metrics.h.
 */
#include "admin/metrics.h"

#include "core/log.h"
#include "core/str.h"

#include <math.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct metric_series {
	struct metric_series *next;
	char *key; /* label values joined by '\0', keylen bytes */
	size_t keylen;
	double value;                                    /* counter, gauge; histogram: sum */
	unsigned long long count;                        /* histogram */
	unsigned long long buckets[METRICS_MAX_BUCKETS]; /* histogram, not cumulative */
};

struct metric {
	struct metric *next;
	enum metric_type type;
	char name[128];
	char help[256];
	int nlabels;
	char labels[METRICS_MAX_LABELS][64];
	double bounds[METRICS_MAX_BUCKETS];
	size_t nbounds;
	struct metric_series *series, *last;
	size_t nseries;
};

struct metrics {
	struct metric *first, *last;
};

struct metrics *metrics_new(void)
{
	return calloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (struct metric *mt = m->first, *next; mt; mt = next) {
		next = mt->next;
		for (struct metric_series *s = mt->series, *sn; s; s = sn) {
			sn = s->next;
			free(s->key);
			free(s);
		}
		free(mt);
	}
	free(m);
}

static bool metrics_name_ok(const char *s, bool label)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	if (label && s[0] == '_' && s[1] == '_')
		return false; /* reserved */
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || (!label && c == ':')))
			return false;
	}
	return true;
}

struct metric *metrics_register(struct metrics *m, enum metric_type type, const char *name,
                                const char *help, const char *labels, const double *buckets,
                                size_t nbuckets)
{
	if (!metrics_name_ok(name, false) || strlen(name) >= 128)
		return NULL;
	for (struct metric *e = m->first; e; e = e->next)
		if (strcmp(e->name, name) == 0)
			return NULL;
	struct metric *mt = calloc(1, sizeof *mt);
	if (!mt)
		return NULL;
	mt->type = type;
	memcpy(mt->name, name, strlen(name) + 1);
	str_copy_trunc(mt->help, sizeof mt->help, help ? help : "");
	for (char *c = mt->help; *c; c++)
		if (*c == '\n' || *c == '\\')
			*c = ' ';
	if (labels && *labels) {
		char tmp[METRICS_MAX_LABELS * 64 + 8];
		char *f[METRICS_MAX_LABELS];
		if (str_copy(tmp, sizeof tmp, labels) != 0)
			goto bad;
		int n = str_split(tmp, ", ", f, METRICS_MAX_LABELS);
		if (n <= 0)
			goto bad;
		for (int i = 0; i < n; i++) {
			if (!metrics_name_ok(f[i], true) || strcmp(f[i], "le") == 0 ||
			    str_copy(mt->labels[i], sizeof mt->labels[i], f[i]) != 0)
				goto bad;
		}
		mt->nlabels = n;
	}
	if (type == METRIC_HISTOGRAM) {
		if (!buckets || nbuckets == 0 || nbuckets > METRICS_MAX_BUCKETS)
			goto bad;
		for (size_t i = 0; i < nbuckets; i++) {
			if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
				goto bad;
			mt->bounds[i] = buckets[i];
		}
		mt->nbounds = nbuckets;
	}
	if (m->last)
		m->last->next = mt;
	else
		m->first = mt;
	m->last = mt;
	return mt;
bad:
	free(mt);
	return NULL;
}

static struct metric_series *metric_series_get(struct metric *mt, const char *const *values,
                                               bool create)
{
	char key[METRICS_MAX_LABELS * 256];
	size_t len = 0;
	for (int i = 0; i < mt->nlabels; i++) {
		const char *v = values && values[i] ? values[i] : "";
		size_t vl = strnlen(v, 255);
		if (len + vl + 1 > sizeof key)
			return NULL;
		memcpy(key + len, v, vl);
		len += vl;
		key[len++] = '\0';
	}
	for (struct metric_series *s = mt->series; s; s = s->next)
		if (s->keylen == len && memcmp(s->key, key, len) == 0)
			return s;
	if (!create || mt->nseries >= METRICS_MAX_SERIES)
		return NULL;
	struct metric_series *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->key = malloc(len ? len : 1);
	if (!s->key) {
		free(s);
		return NULL;
	}
	memcpy(s->key, key, len);
	s->keylen = len;
	if (mt->last)
		mt->last->next = s;
	else
		mt->series = s;
	mt->last = s;
	mt->nseries++;
	return s;
}

int metric_add(struct metric *mt, const char *const *values, double v)
{
	if (mt->type == METRIC_HISTOGRAM || (mt->type == METRIC_COUNTER && !(v >= 0)))
		return -1;
	struct metric_series *s = metric_series_get(mt, values, true);
	if (!s)
		return -1;
	s->value += v;
	return 0;
}

int metric_set(struct metric *mt, const char *const *values, double v)
{
	if (mt->type != METRIC_GAUGE)
		return -1;
	struct metric_series *s = metric_series_get(mt, values, true);
	if (!s)
		return -1;
	s->value = v;
	return 0;
}

int metric_observe(struct metric *mt, const char *const *values, double v)
{
	if (mt->type != METRIC_HISTOGRAM || isnan(v))
		return -1;
	struct metric_series *s = metric_series_get(mt, values, true);
	if (!s)
		return -1;
	s->value += v;
	s->count++;
	for (size_t i = 0; i < mt->nbounds; i++)
		if (v <= mt->bounds[i]) {
			s->buckets[i]++;
			break;
		}
	return 0;
}

double metric_get(const struct metric *mt, const char *const *values)
{
	struct metric_series *s = metric_series_get((struct metric *)mt, values, false);
	return s ? s->value : 0;
}

static int metrics_number(struct buf *out, double v)
{
	if (isnan(v))
		return buf_append_str(out, "NaN");
	if (isinf(v))
		return buf_append_str(out, v > 0 ? "+Inf" : "-Inf");
	if (v == floor(v) && fabs(v) < 1e15)
		return buf_printf(out, "%.0f", v);
	/* The shortest text that reads back as the same double: 0.005, not 0.0050000000000000001.
	 */
	char tmp[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	return buf_append_str(out, tmp);
}

/* {a="x",b="y"[,le="0.5"]} with values escaped as the format asks. */
static int metrics_labels(struct buf *out, const struct metric *mt, const struct metric_series *s,
                          const char *le)
{
	if (mt->nlabels == 0 && !le)
		return 0;
	if (buf_append_char(out, '{') != 0)
		return -1;
	const char *v = s->key;
	for (int i = 0; i < mt->nlabels; i++) {
		if (buf_printf(out, "%s%s=\"", i ? "," : "", mt->labels[i]) != 0)
			return -1;
		for (; *v; v++) {
			int rc = *v == '\\'   ? buf_append_str(out, "\\\\")
			         : *v == '"'  ? buf_append_str(out, "\\\"")
			         : *v == '\n' ? buf_append_str(out, "\\n")
			                      : buf_append_char(out, *v);
			if (rc != 0)
				return -1;
		}
		v++;
		if (buf_append_char(out, '"') != 0)
			return -1;
	}
	if (le && buf_printf(out, "%sle=\"%s\"", mt->nlabels ? "," : "", le) != 0)
		return -1;
	return buf_append_char(out, '}');
}

int metrics_render(const struct metrics *m, struct buf *out)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	for (const struct metric *mt = m->first; mt; mt = mt->next) {
		if (buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", mt->name, mt->help, mt->name,
		               types[mt->type]) != 0)
			return -1;
		/* A metric without labels shows 0 before its first update. */
		struct metric_series zero;
		memset(&zero, 0, sizeof zero);
		zero.key = (char *)"";
		const struct metric_series *first = mt->series;
		if (!first && mt->nlabels == 0)
			first = &zero;
		for (const struct metric_series *s = first; s; s = s->next) {
			if (mt->type != METRIC_HISTOGRAM) {
				if (buf_append_str(out, mt->name) != 0 ||
				    metrics_labels(out, mt, s, NULL) != 0 ||
				    buf_append_char(out, ' ') != 0 ||
				    metrics_number(out, s->value) != 0 ||
				    buf_append_char(out, '\n') != 0)
					return -1;
				continue;
			}
			unsigned long long cum = 0;
			for (size_t i = 0; i <= mt->nbounds; i++) {
				char le[40];
				if (i < mt->nbounds) {
					cum += s->buckets[i];
					struct buf nb;
					buf_init(&nb, sizeof le - 1);
					if (metrics_number(&nb, mt->bounds[i]) != 0) {
						buf_free(&nb);
						return -1;
					}
					if (str_copy(le, sizeof le, buf_cstr(&nb)) != 0)
						panic("metrics_render: le does not fit");
					buf_free(&nb);
				} else {
					cum = s->count;
					if (str_copy(le, sizeof le, "+Inf") != 0)
						panic("metrics_render: le does not fit");
				}
				if (buf_printf(out, "%s_bucket", mt->name) != 0 ||
				    metrics_labels(out, mt, s, le) != 0 ||
				    buf_printf(out, " %llu\n", cum) != 0)
					return -1;
			}
			if (buf_printf(out, "%s_sum", mt->name) != 0 ||
			    metrics_labels(out, mt, s, NULL) != 0 ||
			    buf_append_char(out, ' ') != 0 || metrics_number(out, s->value) != 0 ||
			    buf_printf(out, "\n%s_count", mt->name) != 0 ||
			    metrics_labels(out, mt, s, NULL) != 0 ||
			    buf_printf(out, " %llu\n", s->count) != 0)
				return -1;
		}
	}
	return 0;
}
