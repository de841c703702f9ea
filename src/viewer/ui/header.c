/* The header: who, how much, how it moved, and the view's state. */
#include "config.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "common/xalloc.h"
#include "proto/proto.h"
#include "viewer/format.h"
#include "viewer/ui/crt.h"
#include "viewer/ui/header.h"

/* The sparkline spans one refresh a column, within these limits. */
#define SPARK_MIN_MS (60 * 1000)
#define SPARK_MAX_MS (10 * 60 * 1000)
#define MAX_BADGES 8
/* Columns between two numbers of the header. */
#define FIELD_GAP 2
/* The program's name keeps at least this many columns. */
#define PROGRAM_MIN 16

struct header {
	struct live *lv;
	const struct heap_info *info;
	struct live_status st;
	struct live_rates rates;
};

static char *size_text(char *buf, size_t n, double bytes)
{
	return format_size(buf, n, bytes, 0);
}

/* A rate of blocks: "42", "304k", "1.2M". */
static char *count_text(char *buf, size_t n, double v)
{
	if (v < 10000)
		snprintf(buf, n, "%.0f", v);
	else if (v < 1e6)
		snprintf(buf, n, "%.0fk", v / 1e3);
	else
		snprintf(buf, n, "%.1fM", v / 1e6);
	return buf;
}

/* "42s", "12m03s", "3h12m", "2d03h". */
static char *duration_text(char *buf, size_t n, uint64_t seconds)
{
	if (seconds < 60)
		snprintf(buf, n, "%us", (unsigned)seconds);
	else if (seconds < 3600)
		snprintf(buf, n, "%um%02us", (unsigned)(seconds / 60), (unsigned)(seconds % 60));
	else if (seconds < 86400)
		snprintf(buf, n, "%uh%02um", (unsigned)(seconds / 3600),
			 (unsigned)(seconds / 60 % 60));
	else
		snprintf(buf, n, "%ud%02uh", (unsigned)(seconds / 86400),
			 (unsigned)(seconds / 3600 % 24));
	return buf;
}

/* --- line 1: the numbers, a table of fields ---------------------------------- */

typedef void (*field_text)(const struct header *h, char *buf, size_t n);

static void field_live(const struct header *h, char *buf, size_t n)
{
	char s[32];
	snprintf(buf, n, "%s in %" PRIu64 " blocks", size_text(s, sizeof s, (double)h->info->live_bytes),
		 h->info->live_blocks);
}

static void field_peak(const struct header *h, char *buf, size_t n)
{
	size_text(buf, n, (double)h->info->peak_bytes);
}

/* "BYTES/s (BLOCKS/s)". */
static void rate_text(const struct header *h, char *buf, size_t n, double bytes, double blocks)
{
	char s[32], c[32];
	if (!h->rates.known)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%s/s (%s/s)", size_text(s, sizeof s, bytes),
			 count_text(c, sizeof c, blocks));
}

static void field_alloc(const struct header *h, char *buf, size_t n)
{
	rate_text(h, buf, n, h->rates.alloc_bytes, h->rates.alloc_blocks);
}

static void field_free(const struct header *h, char *buf, size_t n)
{
	char s[32];
	if (!h->rates.known)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%s/s", size_text(s, sizeof s, h->rates.free_bytes));
}

static void field_sites(const struct header *h, char *buf, size_t n)
{
	snprintf(buf, n, "%zu", h->st.sites);
}

static void field_agent(const struct header *h, char *buf, size_t n)
{
	size_text(buf, n, (double)h->info->agent_bytes);
}

/* How the agent counts: "exact", "sampled 1 per 512 KiB". */
static void mode_text(const struct header *h, char *buf, size_t n)
{
	char s[32];
	if (h->info->agent_flags & HT_AGENT_SAMPLED)
		snprintf(buf, n, "sampled 1 per %s",
			 size_text(s, sizeof s, (double)h->info->sample_bytes));
	else
		snprintf(buf, n, "exact");
}

/* In the order shown; when the line is too short the highest DROP goes. */
static const struct field {
	const char *label;
	field_text text;
	int drop;
} fields[] = {
	{ "Live", field_live, 0 },
	{ "Peak", field_peak, 1 },
	{ "Alloc", field_alloc, 2 },
	{ "Free", field_free, 3 },
	{ "Sites", field_sites, 4 },
	{ "Agent", field_agent, 5 },
};

#define NFIELDS (sizeof fields / sizeof fields[0])

static void header_numbers(const struct header *h, int y, int w)
{
	char text[NFIELDS][96];
	int width[NFIELDS], keep[NFIELDS], total = 1;
	for (size_t i = 0; i < NFIELDS; i++) {
		fields[i].text(h, text[i], sizeof text[i]);
		width[i] = (int)strlen(fields[i].label) + 1 + crt_width(text[i]) + FIELD_GAP;
		keep[i] = 1;
		total += width[i];
	}
	for (int rank = 5; total > w && rank > 0; rank--)
		for (size_t i = 0; i < NFIELDS; i++)
			if (keep[i] && fields[i].drop == rank)
				keep[i] = 0, total -= width[i];
	int x = 1;
	for (size_t i = 0; i < NFIELDS; i++) {
		if (!keep[i])
			continue;
		x += crt_put(y, x, fields[i].label, w - x, CRT_LABEL) + 1;
		x += crt_put(y, x, text[i], w - x, CRT_VALUE) + FIELD_GAP;
	}
}

/* --- line 0: who, and the badges ------------------------------------------------ */

static const struct {
	int sig;
	const char *name;
} signal_names[] = {
	{ SIGSEGV, "SIGSEGV" }, { SIGABRT, "SIGABRT" }, { SIGBUS, "SIGBUS" },
	{ SIGFPE, "SIGFPE" }, { SIGILL, "SIGILL" }, { SIGKILL, "SIGKILL" },
	{ SIGTERM, "SIGTERM" }, { SIGINT, "SIGINT" }, { SIGHUP, "SIGHUP" },
	{ SIGPIPE, "SIGPIPE" }, { SIGQUIT, "SIGQUIT" }, { SIGTRAP, "SIGTRAP" },
};

/* "SIGSEGV", or "signal 42" for one not in the table. */
static const char *signal_name(int sig)
{
	static char other[24];
	for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
		if (signal_names[i].sig == sig)
			return signal_names[i].name;
	snprintf(other, sizeof other, "signal %d", sig);
	return other;
}

struct badge {
	char text[48];
	enum crt_color color;
};

static size_t header_badges(const struct header *h, struct badge *b)
{
	size_t n = 0;
	const struct live_status *st = &h->st;
	if (st->marked) {
		time_t t = (time_t)(st->mark_ns / 1000000000u);
		struct tm tm;
		char at[16] = "";
		if (st->mark_ns && localtime_r(&t, &tm))
			strftime(at, sizeof at, " %H:%M:%S", &tm);
		b[n] = (struct badge){ .color = CRT_BADGE_MARK };
		snprintf(b[n++].text, sizeof b->text, "MARK%s", at);
	}
	if (st->diff)
		b[n++] = (struct badge){ "DIFF", CRT_BADGE_MARK };
	if (st->paused)
		b[n++] = (struct badge){ "PAUSED", CRT_BADGE };
	if (st->filters) {
		b[n] = (struct badge){ .color = CRT_BADGE };
		snprintf(b[n++].text, sizeof b->text, "FILTERS %zu", st->filters);
	}
	/* The agent cannot see the program's operator new: the table lacks
	 * its C++ objects for as long as it runs (see libheaptop(7)).  Before
	 * the program's state, which stays rightmost. */
	if (h->info && (h->info->agent_flags & HT_AGENT_NEW_UNSEEN))
		b[n++] = (struct badge){ "C++ NEW UNTRACED", CRT_BADGE_ALERT };
	if (st->exited) {
		b[n] = (struct badge){ .color = CRT_BADGE_ALERT };
		if (WIFSIGNALED(st->exit_status))
			snprintf(b[n++].text, sizeof b->text, "KILLED by %s",
				 signal_name(WTERMSIG(st->exit_status)));
		else
			snprintf(b[n++].text, sizeof b->text, "EXITED status %d",
				 WIFEXITED(st->exit_status) ? WEXITSTATUS(st->exit_status) : 1);
	} else if (st->lost) {
		b[n++] = (struct badge){ "AGENT LOST", CRT_BADGE_ALERT };
	}
	return n;
}

/* Draw the badges right-aligned on line Y; returns where they start. */
static int header_draw_badges(const struct header *h, int y, int w)
{
	struct badge b[MAX_BADGES];
	size_t n = header_badges(h, b);
	int x = w;
	for (size_t i = n; i-- > 0;) {
		char text[64];
		snprintf(text, sizeof text, " %s ", b[i].text);
		int bw = crt_width(text);
		if (x - bw - 1 < w / 2)
			break;
		x -= bw + 1;
		crt_put(y, x, text, bw, b[i].color);
	}
	return x;
}

/* The command line with the program's directory left out, like top. */
static const char *program_name(const struct heap_info *i)
{
	const char *cmd = *i->cmdline ? i->cmdline : i->exe;
	size_t first = strcspn(cmd, " ");
	const char *name = cmd;
	for (const char *p = cmd; p < cmd + first; p++)
		if (*p == '/' && p + 1 < cmd + first)
			name = p + 1;
	return name;
}

static void header_title(const struct header *h, int y, int w)
{
	int end = header_draw_badges(h, y, w) - 1;
	int x = 1 + crt_put(y, 1, "heaptop", end - 1, CRT_TITLE) + 1;
	if (!h->info) {
		crt_put(y, x, "waiting for the program's agent...", end - x, CRT_DIM);
		return;
	}
	char tail[160], up[32], every[32], mode[64];
	const char *dot = crt_glyph(CRT_G_DOT);
	duration_text(up, sizeof up,
		      h->info->time_ns > h->info->start_ns
			      ? (h->info->time_ns - h->info->start_ns) / 1000000000u : 0);
	snprintf(every, sizeof every, "%g s", h->st.interval);
	mode_text(h, mode, sizeof mode);
	snprintf(tail, sizeof tail, " %s pid %u %s up %s %s every %s %s %s", dot,
		 (unsigned)h->info->pid, dot, up, dot, every, dot, mode);
	const char *cmd = program_name(h->info);
	int room = end - x - crt_width(tail);
	if (room < PROGRAM_MIN)
		room = PROGRAM_MIN;
	x += crt_put_cut(y, x, cmd, room, CRT_PROGRAM);
	crt_put_cut(y, x, tail, end - x, CRT_LABEL);
}

/* --- line 2: the sparkline and the view ------------------------------------------- */

/* Append " · TEXT" to BUF of N bytes. */
static void view_add(char *buf, size_t n, const char *text)
{
	size_t len = strlen(buf);
	if (len < n)
		snprintf(buf + len, n - len, " %s %s", crt_glyph(CRT_G_DOT), text);
}

static void header_view(const struct header *h, char *buf, size_t n)
{
	const struct live_status *st = &h->st;
	int delta = st->sort == SORT_DELTA;
	snprintf(buf, n, "group %s %s sort %s%s%s", model_group_name(st->group),
		 crt_glyph(CRT_G_DOT), delta ? crt_glyph(CRT_G_DELTA) : "",
		 delta ? "size" : model_sort_name(st->sort),
		 crt_glyph(st->reverse ? CRT_G_UP : CRT_G_DOWN));
	if (st->cumulative)
		view_add(buf, n, "cumulative");
	if (!st->skip_system)
		view_add(buf, n, "system frames");
	if (st->all_frames)
		view_add(buf, n, "all frames");
}

static void header_spark(const struct header *h, int y, int w)
{
	char view[160], label[64], top[32], span[32];
	header_view(h, view, sizeof view);
	int vw = crt_width(view);
	int x = 1 + crt_put(y, 1, "History", w, CRT_LABEL) + 1;
	int cols = w - x - vw - 24;
	if (cols < 10) {
		cols = w - x - 24;
		vw = 0;
	}
	if (cols < 4)
		return;
	uint64_t span_ms = (uint64_t)(cols * h->st.interval * 1000);
	span_ms = span_ms < SPARK_MIN_MS ? SPARK_MIN_MS : span_ms > SPARK_MAX_MS ? SPARK_MAX_MS : span_ms;
	int levels[1024];
	if (cols > 1024)
		cols = 1024;
	uint64_t max = live_history(h->lv, levels, (size_t)cols, CRT_SPARK_LEVELS, span_ms);
	for (int i = 0; i < cols; i++)
		crt_put(y, x + i, crt_spark(levels[i]), 1, levels[i] < 0 ? CRT_DIM : CRT_SPARK);
	x += cols + 1;
	snprintf(label, sizeof label, "max %s, %s", size_text(top, sizeof top, (double)max),
		 duration_text(span, sizeof span, span_ms / 1000));
	crt_put(y, x, label, w - x - vw - 1, CRT_DIM);
	if (vw)
		crt_put(y, w - vw - 1, view, vw, CRT_LABEL);
}

int header_draw(struct live *lv, int y, int w, int max)
{
	struct header h = { .lv = lv, .info = live_info(lv), .rates = live_rates(lv) };
	live_status(lv, &h.st);
	int lines = max < 3 ? max : 3;
	if (lines > 0)
		header_title(&h, y, w);
	if (lines > 1 && h.info)
		header_numbers(&h, y + 1, w);
	if (lines > 2 && h.info)
		header_spark(&h, y + 2, w);
	return lines > 0 ? lines : 0;
}
