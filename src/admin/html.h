/*
 * html - pieces of the admin page made by the server: text escaped for HTML
 * (every value that came from a peer, a log or a person goes through
 * html_text), and bar charts as inline SVG (no JavaScript, no external
 * assets: the page works without network).
 */
#ifndef RG_ADMIN_HTML_H
#define RG_ADMIN_HTML_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Appends s with & < > " ' escaped (good in text and in quoted attributes); NULL
 * appends nothing. 0 or -1. */
int html_text(struct buf *b, const char *s) RG_WUR;
/* printf-style, then escaped as by html_text. 0 or -1. */
int html_textf(struct buf *b, const char *fmt, ...) RG_WUR __attribute__((format(printf, 2, 3)));

/* A bar chart of n values (oldest first) as an inline <svg> that scales to the
 * page width. title is read by screen readers and shown as a tooltip. Bar i
 * starts at first_ms + i * step_ms; the bars that start on a multiple of
 * label_every steps (0: none; UTC midnights for 24 one-hour steps) say when, as "HH:00" (UTC) or,
 * when labels are a day or more apart, "MM-DD". 0 or -1. */
int html_bar_chart(struct buf *b, const uint32_t *v, size_t n, const char *title, int64_t first_ms,
                   int64_t step_ms, size_t label_every) RG_WUR;

#endif
