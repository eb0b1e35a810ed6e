/*
 * html - escaping and inline SVG charts; see html.h.
 */
#include "admin/html.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int html_text(struct buf *b, const char *s)
{
	if (!s)
		return 0;
	const char *run = s;
	for (; *s; s++) {
		const char *rep = NULL;
		switch (*s) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			continue;
		}
		if (buf_append(b, run, (size_t)(s - run)) != 0 || buf_append_str(b, rep) != 0)
			return -1;
		run = s + 1;
	}
	return buf_append(b, run, (size_t)(s - run));
}

int html_textf(struct buf *b, const char *fmt, ...)
{
	struct buf tmp;
	buf_init(&tmp, b->max);
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(&tmp, fmt, ap);
	va_end(ap);
	if (rc == 0)
		rc = html_text(b, buf_cstr(&tmp));
	buf_free(&tmp);
	return rc;
}

int html_bar_chart(struct buf *b, const uint32_t *v, size_t n, const char *title, int64_t first_ms,
                   int64_t step_ms, size_t label_every)
{
	const int w = 720, h = 180, top = 16, bottom = 20, left = 44, right = 8;
	uint32_t max = 0;
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] > max)
			max = v[i];
		total += v[i];
	}
	/* a round top for the axis: 1, 2, 5 x 10^k */
	uint64_t axis = 1;
	while (axis < max) {
		if (axis * 2 >= max) {
			axis *= 2;
			break;
		}
		if (axis * 5 >= max) {
			axis *= 5;
			break;
		}
		axis *= 10;
	}
	int plot_w = w - left - right, plot_h = h - top - bottom;
	if (buf_printf(b,
	               "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" "
	               "xmlns=\"http://www.w3.org/2000/svg\"><title>",
	               w, h) != 0 ||
	    html_text(b, title) != 0 ||
	    buf_printf(b, " (total %llu, peak %u per hour)</title>", (unsigned long long)total,
	               max) != 0)
		return -1;
	/* axis lines and the top value */
	if (buf_printf(b,
	               "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>"
	               "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"grid\"/>"
	               "<text x=\"%d\" y=\"%d\" class=\"lbl\" text-anchor=\"end\">%llu</text>"
	               "<text x=\"%d\" y=\"%d\" class=\"lbl\" text-anchor=\"end\">0</text>",
	               left, top + plot_h, w - right, top + plot_h, left, top, w - right, top,
	               left - 4, top + 4, (unsigned long long)axis, left - 4, top + plot_h) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		double bw = (double)plot_w / (double)(n ? n : 1);
		double x = left + bw * (double)i;
		double bh = (double)plot_h * (double)v[i] / (double)axis;
		if (v[i] && bh < 1)
			bh = 1;
		if (v[i] && buf_printf(b,
		                       "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
		                       "class=\"bar\"><title>%u</title></rect>",
		                       x + bw * 0.1, top + plot_h - bh, bw * 0.8, bh, v[i]) != 0)
			return -1;
		int64_t at = first_ms + (int64_t)i * step_ms,
		        period = step_ms * (int64_t)label_every;
		if (label_every && period > 0 && at % period == 0) {
			time_t t = (time_t)(at / 1000);
			struct tm tm;
			char lbl[16] = "";
			if (gmtime_r(&t, &tm))
				strftime(lbl, sizeof lbl,
				         step_ms * (int64_t)label_every >= 86400000 ? "%m-%d"
				                                                    : "%H:00",
				         &tm);
			if (buf_printf(b, "<text x=\"%.1f\" y=\"%d\" class=\"lbl\">%s</text>", x,
			               h - 4, lbl) != 0)
				return -1;
		}
	}
	return buf_append_str(b, "</svg>");
}
