/*
 * webui - the admin page's HTML: overview, blocks with Resume, one account,
 * blocklist status, holds, audit, and the login form. Made by the server with
 * no JavaScript and no external assets; every value from outside goes
 * through html_text. Pages are one column that reflows at phone width
 * (tables turn into stacked rows), so nothing scrolls sideways at 390 px.
 */
#include "admin/blocks.h"
#include "admin/form.h"
#include "admin/holds.h"
#include "admin/html.h"
#include "admin/series.h"
#include "admin/status.h"
#include "admin/web_int.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "policy/engine.h"
#include "queue/queue.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char webui_css[] =
    "*{box-sizing:border-box}"
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1b1f23;"
    "background:#f4f6f8}"
    "header{background:#1f3a5f;color:#fff;padding:.6em 1em;display:flex;flex-wrap:wrap;"
    "gap:.5em 1.2em;align-items:center}"
    "header a{color:#fff;text-decoration:none}header a:hover{text-decoration:underline}"
    "header .brand{font-weight:700;font-size:1.1em}"
    "nav{display:flex;flex-wrap:wrap;gap:.3em 1em;flex:1}"
    "header form{margin:0}"
    "main{max-width:1100px;margin:0 auto;padding:1em}"
    "h1{font-size:1.4em;margin:.2em 0 .6em}h2{font-size:1.1em;margin:0 0 .6em}"
    ".card{background:#fff;border:1px solid #d8dde3;border-radius:6px;padding:1em;"
    "margin:0 0 1em;overflow-wrap:anywhere}"
    ".tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:1em;"
    "margin-bottom:1em}"
    ".tile{background:#fff;border:1px solid #d8dde3;border-radius:6px;padding:.8em}"
    ".tile b{font-size:1.8em;display:block}.tile.bad b{color:#b3261e}"
    "a.tile{color:inherit;text-decoration:none}a.tile:hover{border-color:#3b7dd8}"
    "table{border-collapse:collapse;width:100%}"
    "td,th{text-align:left;padding:.45em .4em;border-bottom:1px solid #e3e6ea;"
    "vertical-align:top;overflow-wrap:anywhere}"
    "th{font-size:.85em;color:#555}"
    "ul.ev{margin:0;padding-left:1.1em}"
    ".chart{width:100%;height:auto;display:block}"
    ".bar{fill:#3b7dd8}.axis{stroke:#555}.grid{stroke:#e0e0e0}.lbl{font-size:11px;fill:#555}"
    ".msg{background:#e7f4e4;border:1px solid #9cc79a;padding:.6em;border-radius:4px}"
    ".err{background:#fbe9e9;border:1px solid #e0a3a3;padding:.6em;border-radius:4px}"
    ".muted{color:#666}"
    "input[type=text],input[type=password]{width:100%;max-width:26em;padding:.45em;"
    "font:inherit}"
    "button{padding:.45em .9em;font:inherit;cursor:pointer}"
    "pre.msgtext{white-space:pre-wrap;overflow-wrap:anywhere;font-size:.85em;margin:0}"
    "form.resume{margin:.2em 0;display:flex;flex-wrap:wrap;gap:.4em}form.resume input{flex:1 1 "
    "10em}"
    ".login{max-width:26em;margin:3em auto}"
    ".login label{display:block;margin:.6em 0 .2em}"
    "@media (max-width:700px){nav{order:3;flex-basis:100%}"
    "table.rs thead{display:none}"
    "table.rs tr{display:block;border-bottom:2px solid #d8dde3;padding:.4em 0}"
    "table.rs td{display:block;border:0;padding:.15em .2em}"
    "table.rs td[data-l]::before{content:attr(data-l) \": \";font-weight:600}}";

static int webui_head(struct buf *b, const char *title)
{
	if (buf_append_str(b, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
	                      "<meta name=\"viewport\" content=\"width=device-width, "
	                      "initial-scale=1\"><title>") != 0 ||
	    html_text(b, title) != 0 ||
	    buf_printf(b, " - relayguard</title><style>%s</style></head><body>", webui_css) != 0)
		return -1;
	return 0;
}

/* The head, the navigation and the log-out button. */
static int webui_begin(struct buf *b, struct web_req *r, const char *title)
{
	if (webui_head(b, title) != 0 ||
	    buf_append_str(b, "<header><a class=\"brand\" href=\"/\">relayguard</a><nav>"
	                      "<a href=\"/\">Overview</a><a href=\"/blocks\">Blocks</a>"
	                      "<a href=\"/listings\">Blocklists</a><a href=\"/holds\">Holds</a>"
	                      "<a href=\"/audit\">Audit</a></nav>"
	                      "<form method=\"post\" action=\"/logout\">"
	                      "<input type=\"hidden\" name=\"csrf\" value=\"") != 0 ||
	    html_text(b, r->sess->csrf) != 0 || buf_append_str(b, "\"><button>Log out ") != 0 ||
	    html_text(b, r->sess->user) != 0 ||
	    buf_append_str(b, "</button></form></header><main><h1>") != 0 ||
	    html_text(b, title) != 0 || buf_append_str(b, "</h1>") != 0)
		return -1;
	return 0;
}

/* Records an append that did not fit. The page goes on being written (every
 * append is bounded, so the rest only fails too) and webui_send() refuses it
 * once, at the end: one check per page instead of a jump per line. */
static void webui_put(bool *full, int rc)
{
	if (rc != 0)
		*full = true;
}

/* Sends the page, or "page too large" when one of its appends did not fit. */
static enum MHD_Result webui_send(struct web_req *r, unsigned status, struct buf *b, bool full)
{
	if (full || buf_append_str(b, "</main></body></html>") != 0) {
		buf_free(b);
		return web_reply(r, 500, "text/plain; charset=utf-8", "page too large\n", 15);
	}
	enum MHD_Result rc = web_reply(r, status, "text/html; charset=utf-8", buf_cstr(b), b->len);
	buf_free(b);
	return rc;
}

enum MHD_Result webui_login_page(struct web_req *r, unsigned status, const char *message)
{
	/* One token per browser while it logs in: a second tab or a favicon fetch must
	 * not make the first form stale. */
	char tok[SESSION_TOKEN_LEN + 1];
	const char *have = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "rg_login");
	if (status == 403 || !have || strlen(have) != SESSION_TOKEN_LEN ||
	    strspn(have, "0123456789abcdef") != SESSION_TOKEN_LEN)
		session_token(tok);
	else if (str_copy(tok, sizeof tok, have) != 0)
		panic("webui_login_page: tok does not fit");
	web_cookie(r, 1, "rg_login", tok, "/login", 3600);
	struct buf b;
	buf_init(&b, WEB_PAGE_MAX);
	bool full = false;
	webui_put(&full, webui_head(&b, "Log in"));
	webui_put(&full, buf_append_str(
	                     &b, "<main class=\"login\"><div class=\"card\"><h1>relayguard</h1>"));
	if (message) {
		webui_put(&full, buf_append_str(&b, "<p class=\"err\" role=\"alert\">"));
		webui_put(&full, html_text(&b, message));
		webui_put(&full, buf_append_str(&b, "</p>"));
	} else if (status == 401) {
		webui_put(&full,
		          buf_append_str(&b, "<p>Log in with an administrator account.</p>"));
	}
	webui_put(
	    &full,
	    buf_printf(&b,
	               "<form method=\"post\" action=\"/login\">"
	               "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
	               "<label for=\"user\">User</label>"
	               "<input type=\"text\" id=\"user\" name=\"user\" autocomplete=\"username\" "
	               "required autofocus>"
	               "<label for=\"password\">Password</label>"
	               "<input type=\"password\" id=\"password\" name=\"password\" "
	               "autocomplete=\"current-password\" required>"
	               "<p><button type=\"submit\" id=\"login\">Log in</button></p></form></div>",
	               tok));
	return webui_send(r, status, &b, full);
}

/* ---- pieces ---- */

/* The resume action of an identity's kind (admin/ctlapi "resume"): the three
 * of the trusted-relay deployment, each its own button; a domain block is
 * lifted by a plain unblock. */
static const struct webui_resume_kind {
	const char *prefix, *kind, *label;
} webui_resume_kinds[] = {
    {"user:", "sender", "Unblock sender"},
    {"ip:", "relay", "Re-authorise relay"},
    {"cidr:", "range", "Lift range exclusion"},
};

static const struct webui_resume_kind *webui_resume_kind_of(const char *identity)
{
	for (size_t i = 0; i < sizeof webui_resume_kinds / sizeof webui_resume_kinds[0]; i++)
		if (strncmp(identity, webui_resume_kinds[i].prefix,
		            strlen(webui_resume_kinds[i].prefix)) == 0)
			return &webui_resume_kinds[i];
	return NULL;
}

static int webui_resume_form(struct buf *b, struct web_req *r, const char *identity)
{
	const struct webui_resume_kind *k = webui_resume_kind_of(identity);
	if (buf_append_str(b, "<form class=\"resume\" method=\"post\" action=\"/resume\">"
	                      "<input type=\"hidden\" name=\"csrf\" value=\"") != 0 ||
	    html_text(b, r->sess->csrf) != 0 ||
	    buf_append_str(b, "\"><input type=\"hidden\" name=\"identity\" value=\"") != 0 ||
	    html_text(b, identity) != 0 ||
	    (k &&
	     buf_printf(b, "\"><input type=\"hidden\" name=\"kind\" value=\"%s", k->kind) != 0) ||
	    buf_append_str(b, "\"><input type=\"text\" name=\"reason\" required "
	                      "placeholder=\"why (required)\" aria-label=\"reason for resuming ") !=
	        0 ||
	    html_text(b, identity) != 0 ||
	    buf_printf(b, "\"><button type=\"submit\" class=\"resume-btn%s%s\">%s</button></form>",
	               k ? " resume-" : "", k ? k->kind : "", k ? k->label : "Resume") != 0)
		return -1;
	return 0;
}

static int webui_account_link(struct buf *b, const char *identity)
{
	char enc[POL_IDENT_MAX * 3 + 1];
	if (form_encode(identity, enc, sizeof enc) != 0)
		return html_text(b, identity);
	if (buf_printf(b, "<a href=\"/account?id=%s\">", enc) != 0 || html_text(b, identity) != 0 ||
	    buf_append_str(b, "</a>") != 0)
		return -1;
	return 0;
}

/* "2026-11-23T11:25:58.986Z" as "2026-11-23 11:25 UTC"; anything else as it is. */
static int webui_time(struct buf *b, const char *iso)
{
	if (!iso)
		return 0;
	if (strlen(iso) >= 17 && iso[10] == 'T' && iso[13] == ':' && iso[strlen(iso) - 1] == 'Z')
		return buf_printf(b, "%.10s %.5s UTC", iso, iso + 11);
	return html_text(b, iso);
}

static int webui_block_row(struct buf *b, struct web_req *r, const json_t *j)
{
	const char *ident = json_string_value(json_object_get(j, "identity"));
	const json_t *exp = json_object_get(j, "expires");
	if (buf_append_str(b, "<tr class=\"block\"><td data-l=\"Identity\">") != 0 ||
	    webui_account_link(b, ident) != 0 ||
	    buf_append_str(b, "</td><td data-l=\"Reason\">") != 0 ||
	    html_text(b, json_string_value(json_object_get(j, "reason"))) != 0 ||
	    buf_append_str(b, " <span class=\"muted\">(") != 0 ||
	    html_text(b, json_string_value(json_object_get(j, "rule"))) != 0 ||
	    buf_append_str(b, ")</span></td><td data-l=\"Evidence\"><ul class=\"ev\">") != 0)
		return -1;
	size_t i;
	const json_t *e;
	json_array_foreach(json_object_get(j, "evidence"), i, e)
	{
		if (buf_append_str(b, "<li>") != 0 || html_text(b, json_string_value(e)) != 0 ||
		    buf_append_str(b, "</li>") != 0)
			return -1;
	}
	if (buf_append_str(b, "</ul></td><td data-l=\"Since\">") != 0 ||
	    webui_time(b, json_string_value(json_object_get(j, "created"))) != 0 ||
	    buf_append_str(b, "</td><td data-l=\"Expires\">") != 0 ||
	    (json_is_string(exp) ? webui_time(b, json_string_value(exp))
	                         : buf_append_str(b, "until resumed")) != 0 ||
	    buf_append_str(b, "</td><td>") != 0 || webui_resume_form(b, r, ident) != 0 ||
	    buf_append_str(b, "</td></tr>") != 0)
		return -1;
	return 0;
}

static int webui_blocks_table(struct buf *b, struct web_req *r, const json_t *blocks, size_t max)
{
	if (json_array_size(blocks) == 0)
		return buf_append_str(b,
		                      "<p class=\"muted\">No blocks: every identity may send.</p>");
	if (buf_append_str(b, "<table class=\"rs\" id=\"blocks\"><thead><tr><th>Identity</th>"
	                      "<th>Reason</th><th>Evidence</th><th>Since</th><th>Expires</th>"
	                      "<th>Resume sending</th></tr></thead><tbody>") != 0)
		return -1;
	size_t i;
	const json_t *j;
	json_array_foreach(blocks, i, j)
	{
		if (i >= max)
			break;
		if (webui_block_row(b, r, j) != 0)
			return -1;
	}
	return buf_append_str(b, "</tbody></table>");
}

static int webui_flash(struct buf *b, struct web_req *r)
{
	char v[POL_IDENT_MAX];
	if (web_param(r, "resumed", v, sizeof v) == 1 && v[0]) {
		if (buf_append_str(b, "<p class=\"msg\" role=\"status\" id=\"flash\">Resumed ") !=
		        0 ||
		    html_text(b, v) != 0 ||
		    buf_append_str(b, ": its block is lifted and its counters reset.") != 0)
			return -1;
		char n[24];
		if (web_param(r, "released", n, sizeof n) == 1 && n[0] &&
		    strspn(n, "0123456789") == strlen(n) &&
		    buf_printf(b, " Held messages released: <span id=\"released\">%s</span>.", n) !=
		        0)
			return -1;
		if (buf_append_str(b, "</p>") != 0)
			return -1;
	}
	return 0;
}

static int webui_holds_unavailable(struct buf *b)
{
	return buf_append_str(b, "<p class=\"muted\" id=\"holds-unavailable\">This process has "
	                         "no hold queue; messages the Postfix policy service holds stay in "
	                         "Postfix's hold queue (<code>postqueue -p</code>, "
	                         "<code>postsuper -H</code>).</p>");
}

static int webui_hold_buttons(struct buf *b, struct web_req *r, const char *id)
{
	for (int k = 0; k < 2; k++) {
		const char *verb = k ? "delete" : "release";
		if (buf_printf(b,
		               "<form class=\"resume\" method=\"post\" action=\"/holds/%s/%s\">"
		               "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
		               "<input type=\"text\" name=\"reason\" required placeholder=\"why "
		               "(required)\" aria-label=\"reason to %s %s\">"
		               "<button type=\"submit\" class=\"%s-btn\">%s</button></form>",
		               id, verb, r->sess->csrf, verb, id, verb,
		               k ? "Delete" : "Release") != 0)
			return -1;
	}
	return 0;
}

/* The held messages of doc ({"holds": [...]}) as a table with their buttons. */
static int webui_holds_table(struct buf *b, struct web_req *r, const json_t *doc)
{
	const json_t *arr = json_object_get(doc, "holds");
	if (json_array_size(arr) == 0)
		return buf_append_str(b,
		                      "<p class=\"muted\" id=\"no-holds\">No held messages.</p>");
	if (buf_append_str(b,
	                   "<table class=\"rs\" id=\"holds\"><thead><tr><th>Message</th>"
	                   "<th>Arrived</th><th>From</th><th>To</th><th>Account or IP</th>"
	                   "<th>Why held</th><th>Release or delete</th></tr></thead><tbody>") != 0)
		return -1;
	size_t i;
	const json_t *h;
	json_array_foreach(arr, i, h)
	{
		const char *id = json_string_value(json_object_get(h, "id"));
		const char *user = json_string_value(json_object_get(h, "auth_user"));
		const json_t *rc = json_object_get(h, "recipients");
		if (buf_printf(
		        b,
		        "<tr class=\"hold\"><td data-l=\"Message\"><a href=\"/hold?id=%s\">%s"
		        "</a></td><td data-l=\"Arrived\">",
		        id, id) != 0 ||
		    webui_time(b, json_string_value(json_object_get(h, "arrival"))) != 0 ||
		    buf_append_str(b, "</td><td data-l=\"From\">&lt;") != 0 ||
		    html_text(b, json_string_value(json_object_get(h, "sender"))) != 0 ||
		    buf_append_str(b, "&gt;</td><td data-l=\"To\">") != 0)
			return -1;
		size_t k;
		const json_t *a;
		json_array_foreach(rc, k, a)
		{
			if (k == 3) {
				if (buf_printf(b, " and %zu more", json_array_size(rc) - 3) != 0)
					return -1;
				break;
			}
			if ((k && buf_append_str(b, ", ") != 0) ||
			    html_text(b, json_string_value(a)) != 0)
				return -1;
		}
		if (buf_append_str(b, "</td><td data-l=\"Account or IP\">") != 0)
			return -1;
		if (user && user[0]) {
			char ident[POL_IDENT_MAX];
			if (str_format(ident, sizeof ident, "user:%s", user) != 0)
				return -1;
			if (webui_account_link(b, ident) != 0)
				return -1;
		} else if (html_text(b, json_string_value(json_object_get(h, "client_ip"))) != 0) {
			return -1;
		}
		if (buf_append_str(b, "</td><td data-l=\"Why held\">") != 0 ||
		    html_text(b, json_string_value(json_object_get(h, "reason"))) != 0 ||
		    buf_append_str(b, "</td><td>") != 0 || webui_hold_buttons(b, r, id) != 0 ||
		    buf_append_str(b, "</td></tr>") != 0)
			return -1;
	}
	return buf_append_str(b, "</tbody></table>");
}

/* ---- pages ---- */

static enum MHD_Result webui_overview(struct web_req *r)
{
	struct web *w = r->w;
	struct buf b;
	buf_init(&b, WEB_PAGE_MAX);
	bool full = false;
	clock_update();
	int64_t now = clock_realtime_ms();
	json_t *blocks = w->ctx.store ? blocks_list(w->ctx.store) : NULL;
	json_t *arr = json_object_get(blocks, "blocks");
	json_t *mon = json_load_file(w->monitor_state, 0, NULL);
	size_t listed = json_object_size(json_object_get(mon, "listings"));
	uint32_t hours[24];
	uint64_t total = w->ctx.series ? series_hours(w->ctx.series, NULL, now, hours, 24) : 0;
	if (!w->ctx.series)
		memset(hours, 0, sizeof hours);
	struct queue_stats qs;
	if (w->ctx.queue)
		queue_stats(w->ctx.queue, &qs);
	webui_put(&full, webui_begin(&b, r, "Overview"));
	webui_put(&full, buf_append_str(&b, "<div class=\"tiles\">"));
	webui_put(&full,
	          buf_printf(
	              &b,
	              "<a class=\"tile%s\" href=\"/blocks\" id=\"tile-blocks\"><b>%zu</b>blocks in "
	              "force</a>",
	              json_array_size(arr) ? " bad" : "", json_array_size(arr)));
	if (w->ctx.queue)
		webui_put(
		    &full,
		    buf_printf(&b,
		               "<a class=\"tile\" href=\"/holds\"><b>%llu</b>held messages</a>"
		               "<div class=\"tile\"><b>%llu</b>in the queue (%llu deferred)</div>",
		               (unsigned long long)qs.held, (unsigned long long)qs.active,
		               (unsigned long long)qs.deferred));
	else
		webui_put(&full, buf_append_str(
		                     &b, "<a class=\"tile\" href=\"/holds\"><b>-</b>held messages "
		                         "(no queue in this build)</a>"));
	webui_put(
	    &full,
	    buf_printf(&b,
	               "<a class=\"tile%s\" href=\"/listings\" id=\"tile-listings\"><b>%zu</b>"
	               "blocklist listings of our IPs</a>",
	               listed ? " bad" : "", listed));
	webui_put(&full,
	          buf_printf(&b,
	                     "<div class=\"tile\"><b>%llu</b>messages in the last 24 h</div></div>",
	                     (unsigned long long)total));
	webui_put(&full,
	          buf_append_str(&b, "<section class=\"card\"><h2>Messages per hour, last 24 hours "
	                             "(UTC)</h2>"));
	int64_t first = (now / 3600000 - 23) * 3600000;
	webui_put(&full, html_bar_chart(&b, hours, 24, "Messages per hour over the last 24 hours",
	                                first, 3600000, 3));
	webui_put(&full, buf_append_str(&b, "</section><section class=\"card\"><h2>Blocks</h2>"));
	if (!blocks)
		webui_put(&full, buf_append_str(
		                     &b, "<p class=\"err\">The state store cannot be read.</p>"));
	else
		webui_put(&full, webui_blocks_table(&b, r, arr, 5));
	if (json_array_size(arr) > 5)
		webui_put(&full, buf_append_str(&b, "<p><a href=\"/blocks\">All blocks</a></p>"));
	webui_put(&full, buf_append_str(
	                     &b, "</section><section class=\"card\"><h2>Blocklist status</h2>"));
	if (!mon)
		webui_put(
		    &full,
		    buf_append_str(
		        &b, "<p class=\"muted\">relayguard monitor has not reported yet.</p>"));
	else if (!listed)
		webui_put(&full, buf_append_str(&b, "<p>None of our monitored IPs is listed.</p>"));
	else
		webui_put(
		    &full,
		    buf_printf(&b,
		               "<p class=\"err\">%zu listing%s: <a href=\"/listings\">see where "
		               "and how to delist</a>.</p>",
		               listed, listed == 1 ? "" : "s"));
	webui_put(&full, buf_append_str(&b, "</section>"));
	if (w->ctx.series) {
		char names[20][SERIES_IDENT_MAX];
		size_t n = series_identities(w->ctx.series, names, 20);
		webui_put(&full, buf_append_str(
		                     &b, "<section class=\"card\"><h2>Senders seen recently</h2>"));
		if (!n)
			webui_put(&full,
			          buf_append_str(
			              &b, "<p class=\"muted\">No traffic since the start.</p>"));
		else
			webui_put(&full, buf_append_str(&b, "<ul>"));
		for (size_t i = 0; i < n; i++) {
			webui_put(&full, buf_append_str(&b, "<li>"));
			webui_put(&full, webui_account_link(&b, names[i]));
			webui_put(&full, buf_append_str(&b, "</li>"));
		}
		webui_put(&full, buf_append_str(&b, n ? "</ul></section>" : "</section>"));
	}
	json_decref(blocks);
	json_decref(mon);
	return webui_send(r, 200, &b, full);
}

static enum MHD_Result webui_blocks(struct web_req *r, unsigned status, const char *error)
{
	struct web *w = r->w;
	struct buf b;
	buf_init(&b, WEB_PAGE_MAX);
	bool full = false;
	json_t *blocks = w->ctx.store ? blocks_list(w->ctx.store) : NULL;
	webui_put(&full, webui_begin(&b, r, "Blocks"));
	if (error) {
		webui_put(&full, buf_append_str(&b, "<p class=\"err\" role=\"alert\">"));
		webui_put(&full, html_text(&b, error));
		webui_put(&full, buf_append_str(&b, "</p>"));
	}
	webui_put(&full, webui_flash(&b, r));
	webui_put(&full, buf_append_str(
	                     &b, "<section class=\"card\"><p class=\"muted\">A block holds an "
	                         "identity's mail; it never drops it. Resume once the password is "
	                         "changed or the machine cleaned: the block is lifted and the "
	                         "identity's counters and score reset.</p>"));
	if (!blocks)
		webui_put(&full, buf_append_str(
		                     &b, "<p class=\"err\">The state store cannot be read.</p>"));
	else
		webui_put(&full,
		          webui_blocks_table(&b, r, json_object_get(blocks, "blocks"), SIZE_MAX));
	webui_put(&full, buf_append_str(&b, "</section>"));
	json_decref(blocks);
	return webui_send(r, status, &b, full);
}

static enum MHD_Result webui_resume(struct web_req *r)
{
	struct web *w = r->w;
	char ident[POL_IDENT_MAX], reason[POL_TEXT_MAX], norm[POL_IDENT_MAX];
	if (web_param(r, "identity", ident, sizeof ident) != 1 || !ident[0])
		return webui_blocks(r, 400, "Which identity? The form was incomplete.");
	if (web_param(r, "reason", reason, sizeof reason) != 1 || !str_trim(reason)[0])
		return webui_blocks(r, 400,
		                    "Say why sending may resume: the reason is required "
		                    "and goes to the audit trail.");
	if (!w->ctx.engine)
		return webui_blocks(r, 503, "No policy engine in this process.");
	/* kind: one of the three resume actions (ctlapi "resume": the block
	 * lifted and the mail held for it released); none: a plain unblock */
	char kind[16];
	bool has_kind = web_param(r, "kind", kind, sizeof kind) == 1 && kind[0];
	json_t *reply = has_kind
	                    ? web_control(r, "resume", str_trim(reason),
	                                  json_pack("{s:s, s:s}", "identity", ident, "kind", kind))
	                    : web_control(r, "unblock", str_trim(reason),
	                                  json_pack("{s:s}", "identity", ident));
	if (!reply)
		return MHD_YES; /* waits on the worker: answered in the run after */
	enum ctlapi_code code = ctlapi_reply_code(reply);
	const char *got = json_string_value(json_object_get(reply, "identity"));
	if (code != CTLAPI_OK || !got || str_copy(norm, sizeof norm, got) != 0) {
		json_decref(reply);
		if (code == CTLAPI_BAD_REQUEST)
			return webui_blocks(r, 400,
			                    has_kind ? "That is not an identity of that kind."
			                             : "That is not an identity.");
		return webui_blocks(r, code == CTLAPI_UNAVAILABLE ? 503 : 500,
		                    "The block could not be lifted: state store error.");
	}
	long long released = (long long)json_integer_value(json_object_get(reply, "released"));
	json_decref(reply);
	char enc[POL_IDENT_MAX * 3 + 1];
	if (form_encode(norm, enc, sizeof enc) != 0)
		enc[0] = '\0';
	if (has_kind)
		str_format_trunc(r->location, sizeof r->location,
		                 "/blocks?resumed=%s&released=%lld", enc, released);
	else
		str_format_trunc(r->location, sizeof r->location, "/blocks?resumed=%s", enc);
	return web_reply(r, 303, "text/plain; charset=utf-8", "resumed\n", 8);
}

static enum MHD_Result webui_account(struct web_req *r)
{
	struct web *w = r->w;
	char in[POL_IDENT_MAX], id[POL_IDENT_MAX];
	if (web_param(r, "id", in, sizeof in) != 1 || !in[0] ||
	    (w->ctx.engine ? blocks_normalize(w->ctx.engine, in, id, sizeof id)
	                   : blocks_identity(in, id, sizeof id)) != 0)
		return web_reply(r, 400, "text/plain; charset=utf-8", "bad or missing ?id=\n", 20);
	clock_update();
	int64_t now = clock_realtime_ms();
	struct buf b;
	buf_init(&b, WEB_PAGE_MAX);
	bool full = false;
	static uint32_t hours[SERIES_HOURS];
	static struct series_ip ips[SERIES_IPS];
	static struct series_verdict vs[SERIES_VERDICTS];
	size_t nips = 0, nvs = 0;
	uint64_t total = 0;
	memset(hours, 0, sizeof hours);
	if (w->ctx.series) {
		total = series_hours(w->ctx.series, id, now, hours, SERIES_HOURS);
		series_details(w->ctx.series, id, ips, &nips, vs, &nvs);
	}
	webui_put(&full, webui_begin(&b, r, id));
	webui_put(&full, webui_flash(&b, r));
	struct store_block blk;
	int got = w->ctx.store ? w->ctx.store->block_get(w->ctx.store, id, &blk) : 0;
	webui_put(&full, buf_append_str(&b, "<section class=\"card\"><h2>Block</h2>"));
	if (got == 1) {
		json_t *j = blocks_json(&blk);
		json_t *arr = json_array();
		json_array_append_new(arr, j);
		int rc = webui_blocks_table(&b, r, arr, 1);
		json_decref(arr);
		webui_put(&full, rc);
	} else if (got == 0) {
		webui_put(&full, buf_append_str(
		                     &b, "<p id=\"not-blocked\">Not blocked: it may send.</p>"));
	} else {
		webui_put(&full, buf_append_str(
		                     &b, "<p class=\"err\">The state store cannot be read.</p>"));
	}
	webui_put(
	    &full,
	    buf_printf(&b,
	               "</section><section class=\"card\"><h2>Messages per hour, last 7 days "
	               "(UTC)</h2><p class=\"muted\">%llu messages counted by the policy service "
	               "since this process started.</p>",
	               (unsigned long long)total));
	int64_t first = (now / 3600000 - (SERIES_HOURS - 1)) * 3600000;
	/* labels at UTC midnights: start the label count at the first whole day */
	webui_put(&full,
	          html_bar_chart(&b, hours, SERIES_HOURS, "Messages per hour over the last 7 days",
	                         first, 3600000, 24));
	webui_put(&full,
	          buf_append_str(&b, "</section><section class=\"card\"><h2>Client IPs</h2>"));
	if (!nips)
		webui_put(&full,
		          buf_append_str(&b, "<p class=\"muted\">None seen since the start.</p>"));
	else
		webui_put(&full,
		          buf_append_str(
		              &b, "<table class=\"rs\"><thead><tr><th>IP</th><th>Last seen</th>"
		                  "<th>Requests</th></tr></thead><tbody>"));
	for (size_t i = 0; i < nips; i++) {
		char t[40];
		clock_format_rfc3339(ips[i].last_ms, t, sizeof t);
		webui_put(&full, buf_append_str(&b, "<tr><td data-l=\"IP\">"));
		webui_put(&full, html_text(&b, ips[i].ip));
		webui_put(
		    &full,
		    buf_printf(&b,
		               "</td><td data-l=\"Last seen\">%s</td><td data-l=\"Requests\">%u"
		               "</td></tr>",
		               t, ips[i].count));
	}
	if (nips)
		webui_put(&full, buf_append_str(&b, "</tbody></table>"));
	webui_put(&full,
	          buf_append_str(&b, "</section><section class=\"card\"><h2>Recent verdicts</h2>"));
	if (!nvs)
		webui_put(&full,
		          buf_append_str(&b, "<p class=\"muted\">None since the start.</p>"));
	else
		webui_put(
		    &full,
		    buf_append_str(&b, "<table class=\"rs\"><thead><tr><th>Time</th><th>Action</th>"
		                       "<th>Rule</th><th>Reason</th></tr></thead><tbody>"));
	for (size_t i = 0; i < nvs; i++) {
		char t[40];
		clock_format_rfc3339(vs[i].time_ms, t, sizeof t);
		webui_put(
		    &full,
		    buf_printf(&b, "<tr><td data-l=\"Time\">%s</td><td data-l=\"Action\">", t));
		webui_put(&full, html_text(&b, vs[i].action));
		webui_put(&full, buf_append_str(&b, "</td><td data-l=\"Rule\">"));
		webui_put(&full, html_text(&b, vs[i].rule));
		webui_put(&full, buf_append_str(&b, "</td><td data-l=\"Reason\">"));
		webui_put(&full, html_text(&b, vs[i].reason));
		webui_put(&full, buf_append_str(&b, "</td></tr>"));
	}
	if (nvs)
		webui_put(&full, buf_append_str(&b, "</tbody></table>"));
	webui_put(&full,
	          buf_append_str(&b, "</section><section class=\"card\"><h2>Held messages</h2>"));
	if (!w->ctx.queue) {
		webui_put(&full, webui_holds_unavailable(&b));
	} else {
		bool user = strncmp(id, "user:", 5) == 0, ip = strncmp(id, "ip:", 3) == 0;
		json_t *h = user || ip
		                ? holds_list(w->ctx.queue, user ? id + 5 : NULL, ip ? id + 3 : NULL)
		                : json_pack("{s:[]}", "holds");
		int rc = h ? webui_holds_table(&b, r, h)
		           : buf_append_str(&b, "<p class=\"err\">The queue cannot be read.</p>");
		json_decref(h);
		webui_put(&full, rc);
	}
	webui_put(&full, buf_append_str(&b, "</section>"));
	return webui_send(r, 200, &b, full);
}

static bool webui_http_url(const char *u)
{
	return strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0;
}

static enum MHD_Result webui_listings(struct web_req *r)
{
	struct web *w = r->w;
	struct buf b;
	buf_init(&b, WEB_PAGE_MAX);
	bool full = false;
	json_error_t je;
	json_t *doc = json_load_file(w->monitor_state, 0, &je);
	json_t *l = json_object_get(doc, "listings");
	webui_put(&full, webui_begin(&b, r, "Blocklist status"));
	webui_put(&full, buf_append_str(&b, "<section class=\"card\">"));
	if (!doc) {
		webui_put(&full, buf_append_str(
		                     &b, "<p class=\"muted\">No report from relayguard monitor yet "
		                         "(its state file "));
		webui_put(&full, html_text(&b, w->monitor_state));
		webui_put(
		    &full,
		    buf_append_str(&b, " cannot be read). Run <code>relayguard monitor</code> with "
		                       "<code>state = </code> that file.</p></section>"));
		return webui_send(r, 200, &b, full);
	}
	const char *upd = json_string_value(json_object_get(doc, "updated"));
	webui_put(&full,
	          buf_append_str(&b, "<p class=\"muted\">Last round of relayguard monitor: "));
	webui_put(&full, upd ? webui_time(&b, upd) : buf_append_str(&b, "unknown"));
	webui_put(&full,
	          buf_append_str(&b, ". Only listings are kept: an IP and list not shown here was "
	                             "clean.</p>"));
	if (json_object_size(l) == 0) {
		webui_put(&full, buf_append_str(
		                     &b, "<p id=\"no-listings\">None of our IPs is listed.</p>"));
	} else {
		webui_put(
		    &full,
		    buf_append_str(&b, "<table class=\"rs\" id=\"listings\"><thead><tr><th>IP or "
		                       "name</th><th>List</th><th>Listed since</th><th>Meaning</th>"
		                       "<th>Delisting</th></tr></thead><tbody>"));
		const char *key;
		json_t *val;
		json_object_foreach(l, key, val)
		{
			char target[300];
			const char *zone;
			if (web_listing_key(key, target, sizeof target, &zone) != 0)
				continue;
			const struct bl_zone *z = bl_catalog_find(&w->catalog, zone);
			char delist[512] = "";
			if (z)
				bl_zone_delist(z, target, delist, sizeof delist);
			webui_put(&full, buf_append_str(&b, "<tr><td data-l=\"Target\">"));
			webui_put(&full, html_text(&b, target));
			webui_put(&full, buf_append_str(&b, "</td><td data-l=\"List\">"));
			webui_put(&full, html_text(&b, zone));
			if (z && z->name[0]) {
				webui_put(&full, buf_append_str(&b, " <span class=\"muted\">("));
				webui_put(&full, html_text(&b, z->name));
				webui_put(&full, buf_append_str(&b, ")</span>"));
			}
			webui_put(&full, buf_append_str(&b, "</td><td data-l=\"Since\">"));
			webui_put(&full,
			          webui_time(&b, json_string_value(json_object_get(val, "since"))));
			webui_put(&full, buf_append_str(&b, "</td><td data-l=\"Meaning\">"));
			size_t i;
			json_t *m;
			json_array_foreach(json_object_get(val, "meaning"), i, m)
			{
				if (json_is_string(m)) {
					webui_put(&full, html_text(&b, json_string_value(m)));
					webui_put(&full, buf_append_str(&b, " "));
				}
			}
			webui_put(&full, buf_append_str(&b, "</td><td data-l=\"Delisting\">"));
			if (delist[0] && webui_http_url(delist)) {
				webui_put(&full, buf_append_str(
				                     &b, "<a rel=\"noopener noreferrer\" href=\""));
				webui_put(&full, html_text(&b, delist));
				webui_put(&full, buf_append_str(&b, "\">"));
				webui_put(&full, html_text(&b, delist));
				webui_put(&full, buf_append_str(&b, "</a>"));
			} else {
				webui_put(&full, buf_append_str(
				                     &b, "<span class=\"muted\">no delisting page "
				                         "known</span>"));
			}
			webui_put(&full, buf_append_str(&b, "</td></tr>"));
		}
		webui_put(&full, buf_append_str(&b, "</tbody></table>"));
	}
	webui_put(&full, buf_append_str(&b, "</section>"));
	json_decref(doc);
	return webui_send(r, 200, &b, full);
}

static enum MHD_Result webui_audit(struct web_req *r)
{
	struct web *w = r->w;
	struct buf b;
	buf_init(&b, WEB_PAGE_MAX);
	bool full = false;
	json_t *a = w->ctx.store ? blocks_audit(w->ctx.store, NULL) : NULL;
	webui_put(&full, webui_begin(&b, r, "Audit log"));
	webui_put(&full, buf_append_str(&b, "<section class=\"card\">"));
	if (!a) {
		webui_put(&full, buf_append_str(
		                     &b, "<p class=\"err\">The state store cannot be read.</p>"));
	} else if (json_array_size(a) == 0) {
		webui_put(&full, buf_append_str(&b, "<p class=\"muted\">Nothing yet.</p>"));
	} else {
		webui_put(
		    &full,
		    buf_append_str(&b, "<p class=\"muted\">Newest first, at most 500.</p>"
		                       "<table class=\"rs\" id=\"audit\"><thead><tr><th>Time</th>"
		                       "<th>Action</th><th>By</th><th>Identity</th><th>Reason</th>"
		                       "</tr></thead><tbody>"));
		size_t n = json_array_size(a);
		for (size_t k = 0; k < n && k < 500; k++) {
			const json_t *j = json_array_get(a, n - 1 - k);
			static const char *const cols[][2] = {{"time", "Time"},
			                                      {"action", "Action"},
			                                      {"actor", "By"},
			                                      {"identity", "Identity"},
			                                      {"reason", "Reason"}};
			webui_put(&full, buf_append_str(&b, "<tr>"));
			for (size_t c = 0; c < 5; c++) {
				const char *v = json_string_value(json_object_get(j, cols[c][0]));
				webui_put(&full, buf_printf(&b, "<td data-l=\"%s\">", cols[c][1]));
				webui_put(&full,
				          c == 0 ? webui_time(&b, v) : html_text(&b, v ? v : ""));
				webui_put(&full, buf_append_str(&b, "</td>"));
			}
			webui_put(&full, buf_append_str(&b, "</tr>"));
		}
		webui_put(&full, buf_append_str(&b, "</tbody></table>"));
	}
	webui_put(&full, buf_append_str(&b, "</section>"));
	json_decref(a);
	return webui_send(r, 200, &b, full);
}

static enum MHD_Result webui_holds(struct web_req *r, unsigned status, const char *error)
{
	struct web *w = r->w;
	unsigned doc_status;
	char doc_err[300];
	json_t *doc = web_holds_doc(r, &doc_status, doc_err, sizeof doc_err);
	if (!doc && r->ctl_waiting)
		return MHD_YES; /* the page is made when Postfix's answer is here */
	if (!doc && doc_status == 503 && status == 200)
		status = 503; /* too many wait for Postfix: the page says try again */
	struct buf b;
	buf_init(&b, WEB_PAGE_MAX);
	bool full = false;
	webui_put(&full, webui_begin(&b, r, "Held messages"));
	if (error) {
		webui_put(&full, buf_append_str(&b, "<p class=\"err\" role=\"alert\">"));
		webui_put(&full, html_text(&b, error));
		webui_put(&full, buf_append_str(&b, "</p>"));
	}
	char done[80];
	if (web_param(r, "done", done, sizeof done) == 1 && done[0]) {
		webui_put(&full,
		          buf_append_str(&b, "<p class=\"msg\" role=\"status\" id=\"flash\">"));
		webui_put(&full, html_text(&b, done));
		webui_put(&full, buf_append_str(&b, "</p>"));
	}
	webui_put(&full, buf_append_str(
	                     &b, "<section class=\"card\"><p class=\"muted\">Mail the policy held "
	                         "(a block holds, it never drops). Release sends it on; delete "
	                         "removes it. Both are audited.</p>"));
	if (web_postfix_holds(w))
		webui_put(
		    &full,
		    buf_append_str(&b, "<p class=\"muted\" id=\"postfix-holds\">Held in Postfix's "
		                       "hold queue: release runs <code>postsuper -H</code>, delete "
		                       "<code>postsuper -d</code>.</p>"));
	if (!w->ctx.queue && !web_postfix_holds(w))
		webui_put(&full, webui_holds_unavailable(&b));
	else if (!doc && doc_status == 503) {
		webui_put(&full, buf_append_str(&b, "<p class=\"err\" id=\"holds-busy\">"));
		webui_put(&full, html_text(&b, doc_err));
		webui_put(&full, buf_append_str(&b, " (reload the page in a moment)</p>"));
	} else if (!doc)
		webui_put(&full,
		          buf_append_str(&b, "<p class=\"err\">The queue cannot be read.</p>"));
	else
		webui_put(&full, webui_holds_table(&b, r, doc));
	webui_put(&full, buf_append_str(&b, "</section>"));
	json_decref(doc);
	return webui_send(r, status, &b, full);
}

/* One held message: its envelope and the start of its content, as text. */
static enum MHD_Result webui_hold(struct web_req *r)
{
	struct web *w = r->w;
	char id[QUEUE_ID_MAX];
	if (web_postfix_holds(w) && web_param(r, "id", id, sizeof id) == 1 && !holds_id_ok(id))
		return webui_holds(r, 200, NULL); /* Postfix's: the list shows all there is */
	if (!w->ctx.queue)
		return webui_holds(r, 503, NULL);
	if (web_param(r, "id", id, sizeof id) != 1 || !holds_id_ok(id))
		return webui_holds(r, 400, "Not a queue ID.");
	struct queue_envelope env;
	if (queue_entry_load(w->ctx.queue, id, &env) != 0)
		return webui_holds(r, 404, "No such message in the queue.");
	struct buf b;
	buf_init(&b, WEB_PAGE_MAX);
	bool full = false;
	json_t *j = holds_json(&env);
	bool held = env.hold_reason[0] != '\0';
	queue_envelope_free(&env);
	int fd = held ? queue_entry_open_content(w->ctx.queue, id) : -1;
	char title[80];
	str_format_trunc(title, sizeof title, "Held message %s", id);
	webui_put(&full, webui_begin(&b, r, title));
	webui_put(&full, buf_append_str(&b, "<section class=\"card\">"));
	if (!held) {
		webui_put(&full, buf_append_str(
		                     &b, "<p>This message is not held (any more).</p></section>"));
		json_decref(j);
		return webui_send(r, 200, &b, full);
	}
	static const char *const rows[][2] = {{"sender", "From"},
	                                      {"auth_user", "Account"},
	                                      {"client_ip", "Client IP"},
	                                      {"arrival", "Arrived"},
	                                      {"reason", "Why held"}};
	webui_put(&full, buf_append_str(&b, "<table class=\"rs\">"));
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		webui_put(&full, buf_printf(&b, "<tr><th>%s</th><td data-l=\"%s\">", rows[i][1],
		                            rows[i][1]));
		const char *v = json_string_value(json_object_get(j, rows[i][0]));
		webui_put(&full, html_text(&b, v ? v : "unknown"));
		webui_put(&full, buf_append_str(&b, "</td></tr>"));
	}
	webui_put(&full, buf_printf(&b,
	                            "<tr><th>Size</th><td data-l=\"Size\">%lld bytes</td></tr>"
	                            "<tr><th>To</th><td data-l=\"To\">",
	                            (long long)json_integer_value(json_object_get(j, "size"))));
	size_t k;
	json_t *a;
	json_array_foreach(json_object_get(j, "recipients"), k, a)
	{
		webui_put(&full, html_text(&b, json_string_value(a)));
		webui_put(&full, buf_append_str(&b, " "));
	}
	webui_put(&full, buf_append_str(&b, "</td></tr></table>"));
	webui_put(&full, webui_hold_buttons(&b, r, id));
	webui_put(&full,
	          buf_append_str(&b, "</section><section class=\"card\"><h2>Content (first 64 KiB, "
	                             "as text)</h2><pre class=\"msgtext\" id=\"content\">"));
	if (fd >= 0) {
		char chunk[4096];
		size_t total = 0;
		ssize_t n;
		struct buf raw;
		buf_init(&raw, 64 * 1024);
		while (total < 64 * 1024 && (n = read(fd, chunk, sizeof chunk)) > 0) {
			size_t take = (size_t)n < 64 * 1024 - total ? (size_t)n : 64 * 1024 - total;
			for (size_t i = 0; i < take; i++) /* no control characters on the page */
				if ((unsigned char)chunk[i] < 0x20 && chunk[i] != '\n' &&
				    chunk[i] != '\t')
					chunk[i] = chunk[i] == '\r' ? ' ' : '?';
				else if (chunk[i] == 0x7f)
					chunk[i] = '?';
			if (buf_append(&raw, chunk, take) != 0)
				break;
			total += take;
		}
		close(fd);
		fd = -1;
		int rc = html_text(&b, buf_cstr(&raw));
		buf_free(&raw);
		webui_put(&full, rc);
	} else {
		webui_put(&full, buf_append_str(&b, "(the content cannot be read)"));
	}
	webui_put(&full, buf_append_str(&b, "</pre></section>"));
	json_decref(j);
	return webui_send(r, 200, &b, full);
}

/* POST /holds/ID/release|delete with a reason. */
static enum MHD_Result webui_hold_act(struct web_req *r)
{
	struct web *w = r->w;
	char id[QUEUE_ID_MAX], reason[POL_TEXT_MAX], err[200];
	const char *rest = r->url + 7; /* after "/holds/" */
	const char *slash = strchr(rest, '/');
	if (!w->ctx.queue && !web_postfix_holds(w))
		return webui_holds(r, 503, NULL);
	if (!slash || str_copy_n(id, sizeof id, rest, (size_t)(slash - rest)) != 0 ||
	    !web_hold_id_ok(w, id) ||
	    (strcmp(slash, "/release") != 0 && strcmp(slash, "/delete") != 0))
		return webui_holds(r, 404, "No such action.");
	bool release = strcmp(slash, "/release") == 0;
	if (web_param(r, "reason", reason, sizeof reason) != 1 || !str_trim(reason)[0])
		return webui_holds(r, 400,
		                   "Say why: the reason is required and goes to the audit "
		                   "trail.");
	json_t *reply = web_control(r, release ? "release" : "delete", str_trim(reason),
	                            json_pack("{s:s}", "id", id));
	if (!reply)
		return MHD_YES; /* waits for Postfix: answered in the run after */
	enum ctlapi_code code = ctlapi_reply_code(reply);
	if (code != CTLAPI_OK) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		str_copy_trunc(err, sizeof err, e ? e : "failed");
		json_decref(reply);
		return webui_holds(r, code == CTLAPI_UNAVAILABLE ? 503 : 409, err);
	}
	json_decref(reply);
	char msg[120], enc[400];
	str_format_trunc(msg, sizeof msg, "%s %s.", release ? "Released" : "Deleted", id);
	if (form_encode(msg, enc, sizeof enc) != 0)
		enc[0] = '\0';
	str_format_trunc(r->location, sizeof r->location, "/holds?done=%s", enc);
	return web_reply(r, 303, "text/plain; charset=utf-8", "done\n", 5);
}

enum MHD_Result webui_handle(struct web_req *r)
{
	const char *u = r->url;
	if (r->post) {
		if (strcmp(u, "/resume") == 0)
			return webui_resume(r);
		if (strncmp(u, "/holds/", 7) == 0)
			return webui_hold_act(r);
		return web_reply(r, 404, "text/plain; charset=utf-8", "not found\n", 10);
	}
	if (strcmp(u, "/") == 0)
		return webui_overview(r);
	if (strcmp(u, "/blocks") == 0)
		return webui_blocks(r, 200, NULL);
	if (strcmp(u, "/account") == 0)
		return webui_account(r);
	if (strcmp(u, "/listings") == 0)
		return webui_listings(r);
	if (strcmp(u, "/audit") == 0)
		return webui_audit(r);
	if (strcmp(u, "/holds") == 0)
		return webui_holds(r, 200, NULL);
	if (strcmp(u, "/hold") == 0)
		return webui_hold(r);
	return web_reply(r, 404, "text/plain; charset=utf-8", "not found\n", 10);
}
