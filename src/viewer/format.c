/* Batch output of one model table: pretty, stats, json (see format.h). */
#include "config.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "common/path.h"
#include "proto/proto.h"
#include "viewer/format.h"

/* The name of a row whose stack the agent could not record. */
#define NO_STACK "<stacks not recorded>"

/* Frame fields a grouping's key fixes; JSON shows the others as null. */
enum {
	F_FILE = 1u << 0,
	F_LINE = 1u << 1,
	F_FUNCTION = 1u << 2,
	F_MODULE = 1u << 3,
	F_ALL = F_FILE | F_LINE | F_FUNCTION | F_MODULE,
};

/* What a grouping looks like in the output. */
struct group_desc {
	const char *plural;  /* "Top 10 lines" */
	void (*label)(FILE *out, const struct heap_frame *f); /* the row's name */
	unsigned fields;     /* F_*: what the JSON rows show */
	int source;          /* the source line goes under the row */
	int frames;          /* rows are tracebacks: their frames are shown */
};

/* NAME of a frame in its module, "name (libc.so.6)": what shows when the
 * part that a grouping names is unknown. */
static void label_in_module(FILE *out, const char *name, const struct heap_frame *f)
{
	fputs(name, out);
	if (f->module) {
		fputs(" (", out);
		fputs(path_base(f->module), out);
		fputc(')', out);
	}
}

static void label_line(FILE *out, const struct heap_frame *f)
{
	if (!f->file) {
		label_in_module(out, f->function ? f->function : "??", f);
		return;
	}
	fputs(path_short(f->file), out);
	if (f->line)
		fprintf(out, ":%u", f->line);
}

static void label_function(FILE *out, const struct heap_frame *f)
{
	if (f->function && !heap_address_name(f->function))
		fputs(f->function, out);
	else
		label_in_module(out, f->function ? f->function : "??", f);
}

static void label_file(FILE *out, const struct heap_frame *f)
{
	if (f->file)
		fputs(path_short(f->file), out);
	else
		label_in_module(out, "??", f);
}

static void label_module(FILE *out, const struct heap_frame *f)
{
	if (f->module)
		fputs(path_base(f->module), out);
	else
		fputs("??", out);
}

static const struct group_desc groups[] = {
	[GROUP_LINE] = { "lines", label_line, F_ALL, 1, 0 },
	[GROUP_FUNCTION] = { "functions", label_function, F_FUNCTION | F_FILE | F_MODULE, 0, 0 },
	[GROUP_FILE] = { "files", label_file, F_FILE | F_MODULE, 0, 0 },
	[GROUP_MODULE] = { "modules", label_module, F_MODULE, 0, 0 },
	[GROUP_TRACEBACK] = { "tracebacks", label_line, F_ALL, 1, 1 },
};

static const struct group_desc *group_of(const struct format_table *t)
{
	size_t g = (size_t)t->opts->group;
	return g < sizeof groups / sizeof groups[0] ? &groups[g] : &groups[GROUP_LINE];
}

static void put_label(FILE *out, const struct group_desc *g, const struct heap_frame *f)
{
	if (f)
		g->label(out, f);
	else
		fputs(NO_STACK, out);
}

/* Rows shown: the first min(limit, rows). */
static size_t shown_rows(const struct format_table *t)
{
	size_t n = model_row_count(t->m);
	return t->limit >= 0 && (unsigned long)t->limit < n ? (size_t)t->limit : n;
}

/* Sums over the rows that the limit hides. */
struct other {
	size_t rows;
	int64_t size, count, size_diff, count_diff;
};

static struct other other_rows(const struct format_table *t)
{
	struct other o = { 0 };
	size_t n = model_row_count(t->m);
	for (size_t i = shown_rows(t); i < n; i++) {
		const struct model_row *r = model_row(t->m, i);
		o.rows++;
		o.size += r->size;
		o.count += r->count;
		o.size_diff += r->size_diff;
		o.count_diff += r->count_diff;
	}
	return o;
}

/* The stripped source line of F, or NULL (and *LEN 0) when there is none. */
static const char *source_of(const struct format_table *t, const struct heap_frame *f,
			     size_t *len)
{
	*len = 0;
	if (!t->lc || !f || !f->file)
		return NULL;
	const char *s = linecache_line(t->lc, f->file, f->line);
	return s ? linecache_strip(s, len) : NULL;
}

/* ---- sizes ------------------------------------------------------------- */

static double magnitude(double v)
{
	return v < 0 ? -v : v;
}

char *format_size(char *buf, size_t n, double size, int sign)
{
	/* Python's code, unit by unit: abs(size) < 100 and < 10 * 1024. */
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	const size_t last = sizeof units / sizeof units[0] - 1;
	for (size_t u = 0;; u++) {
		if (magnitude(size) < 100 && u != 0) {
			snprintf(buf, n, sign ? "%+.1f %s" : "%.1f %s", size, units[u]);
			return buf;
		}
		if (magnitude(size) < 10 * 1024 || u == last) {
			snprintf(buf, n, sign ? "%+.0f %s" : "%.0f %s", size, units[u]);
			return buf;
		}
		size /= 1024;
	}
}

/* A size for people, in the header: "345 B", "1.2 MiB". */
static char *human_size(char *buf, size_t n, uint64_t bytes)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	if (bytes < 1024) {
		snprintf(buf, n, "%" PRIu64 " B", bytes);
		return buf;
	}
	double v = (double)bytes / 1024;
	size_t u = 0;
	/* 1023.95 and up would print as "1024.0": that is the next unit. */
	while (v >= 1023.95 && u + 1 < sizeof units / sizeof units[0]) {
		v /= 1024;
		u++;
	}
	snprintf(buf, n, "%.1f %s", v, units[u]);
	return buf;
}

/* tracemalloc's recipe: "%.1f KiB" % (size / 1024), signed for changes. */
static void put_kib(FILE *out, int64_t size, int sign)
{
	fprintf(out, sign ? "%+.1f KiB" : "%.1f KiB", (double)size / 1024);
}

/* " (+5.0 KiB)" after a size, with a base. */
static void put_kib_diff(FILE *out, const struct format_table *t, int64_t diff)
{
	if (!t->has_base)
		return;
	fputs(" (", out);
	put_kib(out, diff, 1);
	fputc(')', out);
}

/* ---- the header line --------------------------------------------------- */

/* S with control characters as '?': the header stays one line. */
static void put_clean(FILE *out, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

static void put_local_time(FILE *out, uint64_t ns)
{
	time_t sec = (time_t)(ns / 1000000000u);
	struct tm tm;
	char buf[32];
	if (ns && localtime_r(&sec, &tm) && strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm))
		fprintf(out, ", %s", buf);
}

static void put_header(FILE *out, const struct heap_info *info)
{
	char live[32], peak[32], every[32];
	if (info->final)
		fprintf(out, "# live at exit (status %d): ", info->exit_status);
	else
		fputs("# ", out);
	fprintf(out, "pid %" PRIu32 " ", info->pid);
	put_clean(out, info->cmdline[0] ? info->cmdline : info->exe);
	put_local_time(out, info->time_ns);
	fprintf(out, ", live %s in %" PRIu64 " blocks, peak %s",
		human_size(live, sizeof live, info->live_bytes), info->live_blocks,
		human_size(peak, sizeof peak, info->peak_bytes));
	if (info->agent_flags & HT_AGENT_SAMPLED)
		fprintf(out, ", sampled every %s",
			human_size(every, sizeof every, info->sample_bytes));
	if (info->untracked_blocks)
		fprintf(out, ", %" PRIu64 " blocks untracked", info->untracked_blocks);
	if (info->agent_flags & HT_AGENT_NEW_UNSEEN)
		fputs(", C++ operator new untraced (preload libheaptop-cxx.so)", out);
	fputc('\n', out);
}

/* ---- pretty ------------------------------------------------------------ */

static void pretty_source(FILE *out, const struct format_table *t, const struct heap_frame *f)
{
	size_t len;
	const char *s = source_of(t, f, &len);
	if (!s || !len)
		return;
	fputs("    ", out);
	fwrite(s, 1, len, out);
	fputc('\n', out);
}

/* Traceback.format's line, with the function: '  File "a/b.c", line 4, in f'. */
static void pretty_frame(FILE *out, const struct format_table *t, const struct heap_frame *f)
{
	fputs("  File \"", out);
	if (f->file)
		fputs(path_short(f->file), out);
	else if (f->module)
		fputs(path_base(f->module), out);
	else
		fputs("??", out);
	fputc('"', out);
	if (f->line)
		fprintf(out, ", line %u", f->line);
	fprintf(out, ", in %s\n", f->function ? f->function : "??");
	pretty_source(out, t, f);
}

/* Sorted by a number the row does not show (pretty shows the size), the
 * number too, so that the order can be read: ", 12 blocks", ", average
 * 64 B", ", allocated 97.7 KiB". */
static void pretty_sort_key(FILE *out, const struct format_table *t, const struct model_row *r)
{
	char avg[32];
	switch (t->opts ? t->opts->sort : SORT_SIZE) {
	case SORT_COUNT:
		fprintf(out, ", %" PRId64 " blocks", r->count);
		break;
	case SORT_AVERAGE:
		if (r->count)
			fprintf(out, ", average %s",
				format_size(avg, sizeof avg, (double)r->size / (double)r->count, 0));
		break;
	case SORT_ALLOCATED:
		fputs(", allocated ", out);
		put_kib(out, (int64_t)r->allocated, 0);
		break;
	default:
		break;
	}
}

static void pretty_traceback(FILE *out, const struct format_table *t, const struct model_row *r)
{
	fprintf(out, "%" PRId64 " memory blocks: ", r->count);
	put_kib(out, r->size, 0);
	put_kib_diff(out, t, r->size_diff);
	if (t->opts && t->opts->sort != SORT_COUNT)
		pretty_sort_key(out, t, r);
	fputc('\n', out);
	if (!r->nframes)
		fputs("  " NO_STACK "\n", out);
	for (size_t j = 0; j < r->nframes; j++)
		pretty_frame(out, t, &r->frames[j]);
}

static void pretty_row(FILE *out, const struct format_table *t, const struct group_desc *g,
		       const struct model_row *r)
{
	if (g->frames) {
		pretty_traceback(out, t, r);
		return;
	}
	put_label(out, g, r->frame);
	fputs(": ", out);
	put_kib(out, r->size, 0);
	put_kib_diff(out, t, r->size_diff);
	pretty_sort_key(out, t, r);
	fputc('\n', out);
	if (g->source)
		pretty_source(out, t, r->frame);
}

static void pretty_print(FILE *out, const struct format_table *t)
{
	const struct group_desc *g = group_of(t);
	size_t shown = shown_rows(t);
	if (t->header && t->info)
		put_header(out, t->info);
	fprintf(out, "Top %zu %s\n", shown, g->plural);
	for (size_t i = 0; i < shown; i++) {
		fprintf(out, "#%zu: ", i + 1);
		pretty_row(out, t, g, model_row(t->m, i));
	}
	struct other o = other_rows(t);
	if (o.rows) {
		fprintf(out, "%zu other: ", o.rows);
		put_kib(out, o.size, 0);
		put_kib_diff(out, t, o.size_diff);
		fputc('\n', out);
	}
	int64_t size, count, base_size, base_count;
	model_total(t->m, &size, &count);
	model_base_total(t->m, &base_size, &base_count);
	fputs("Total allocated size: ", out);
	put_kib(out, size, 0);
	put_kib_diff(out, t, size - base_size);
	fputs("\n\n", out);
}

/* ---- stats ------------------------------------------------------------- */

/* Statistic.__str__, or StatisticDiff.__str__ with a base. */
static void stats_row(FILE *out, const struct format_table *t, const struct group_desc *g,
		      const struct model_row *r)
{
	char size[32], diff[32], avg[32];
	put_label(out, g, r->frame);
	format_size(size, sizeof size, (double)r->size, 0);
	if (t->has_base)
		fprintf(out, ": size=%s (%s), count=%" PRId64 " (%+" PRId64 ")", size,
			format_size(diff, sizeof diff, (double)r->size_diff, 1), r->count,
			r->count_diff);
	else
		fprintf(out, ": size=%s, count=%" PRId64, size, r->count);
	if (r->count)
		fprintf(out, ", average=%s",
			format_size(avg, sizeof avg, (double)r->size / (double)r->count, 0));
	/* Sorted by it: the one number the order follows that a Statistic
	 * does not have. */
	if (t->opts && t->opts->sort == SORT_ALLOCATED)
		fprintf(out, ", allocated=%s",
			format_size(avg, sizeof avg, (double)r->allocated, 0));
	fputc('\n', out);
}

static void stats_print(FILE *out, const struct format_table *t)
{
	const struct group_desc *g = group_of(t);
	size_t shown = shown_rows(t);
	if (t->header && t->info)
		put_header(out, t->info);
	for (size_t i = 0; i < shown; i++)
		stats_row(out, t, g, model_row(t->m, i));
	fputc('\n', out);
}

/* ---- json -------------------------------------------------------------- */

/* UTF-8 sequences by their first byte: length and the range of the second
 * byte (which rules out overlong forms, surrogates and > U+10FFFF). */
static const struct utf8_lead {
	unsigned char lo, hi;   /* first byte */
	unsigned char len;
	unsigned char lo2, hi2; /* second byte */
} utf8_leads[] = {
	{ 0xc2, 0xdf, 2, 0x80, 0xbf },
	{ 0xe0, 0xe0, 3, 0xa0, 0xbf },
	{ 0xe1, 0xec, 3, 0x80, 0xbf },
	{ 0xed, 0xed, 3, 0x80, 0x9f },
	{ 0xee, 0xef, 3, 0x80, 0xbf },
	{ 0xf0, 0xf0, 4, 0x90, 0xbf },
	{ 0xf1, 0xf3, 4, 0x80, 0xbf },
	{ 0xf4, 0xf4, 4, 0x80, 0x8f },
};

/* Bytes of the multibyte sequence at S (N bytes left) that belong
 * together; *VALID tells whether they form a whole character.  An invalid
 * sequence is its longest valid prefix (at least one byte), so it takes
 * one U+FFFD as Unicode recommends. */
static size_t utf8_seq(const unsigned char *s, size_t n, int *valid)
{
	const struct utf8_lead *l = NULL;
	*valid = 0;
	for (size_t i = 0; i < sizeof utf8_leads / sizeof utf8_leads[0]; i++)
		if (s[0] >= utf8_leads[i].lo && s[0] <= utf8_leads[i].hi)
			l = &utf8_leads[i];
	if (!l || n < 2 || s[1] < l->lo2 || s[1] > l->hi2)
		return 1;
	size_t k = 2;
	while (k < l->len && k < n && (s[k] & 0xc0) == 0x80)
		k++;
	*valid = k == l->len;
	return k;
}

/* JSON's two-character escapes; other control characters are \u00XX. */
static const struct {
	char c, esc;
} json_escapes[] = {
	{ '"', '"' }, { '\\', '\\' }, { '\b', 'b' }, { '\f', 'f' },
	{ '\n', 'n' }, { '\r', 'r' }, { '\t', 't' },
};

static void json_escape_byte(FILE *out, unsigned char c)
{
	for (size_t i = 0; i < sizeof json_escapes / sizeof json_escapes[0]; i++)
		if ((unsigned char)json_escapes[i].c == c) {
			fputc('\\', out);
			fputc(json_escapes[i].esc, out);
			return;
		}
	fprintf(out, "\\u%04x", c);
}

void format_json_string(FILE *out, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	fputc('"', out);
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		if (c < 0x80) {
			if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f)
				json_escape_byte(out, c);
			else
				fputc(c, out);
			i++;
			continue;
		}
		int valid;
		size_t k = utf8_seq(s + i, len - i, &valid);
		if (valid)
			fwrite(s + i, 1, k, out);
		else
			fputs("\\ufffd", out);
		i += k;
	}
	fputc('"', out);
}

/* A C string or null. */
static void json_str(FILE *out, const char *s)
{
	if (s)
		format_json_string(out, s, strlen(s));
	else
		fputs("null", out);
}

static void json_source(FILE *out, const struct format_table *t, const struct heap_frame *f)
{
	size_t len;
	const char *s = source_of(t, f, &len);
	if (s)
		format_json_string(out, s, len);
	else
		fputs("null", out);
}

/* "file":..,"line":..,"function":..,"module":.. of F; fields outside
 * FIELDS (and all of them without F) are null. */
static void json_frame_fields(FILE *out, const struct heap_frame *f, unsigned fields)
{
	if (!f)
		fields = 0;
	fputs("\"file\":", out);
	json_str(out, fields & F_FILE ? f->file : NULL);
	if (fields & F_LINE && f->line)
		fprintf(out, ",\"line\":%u", f->line);
	else
		fputs(",\"line\":null", out);
	fputs(",\"function\":", out);
	json_str(out, fields & F_FUNCTION ? f->function : NULL);
	fputs(",\"module\":", out);
	json_str(out, fields & F_MODULE ? f->module : NULL);
}

static void json_frames(FILE *out, const struct format_table *t, const struct model_row *r)
{
	fputs(",\"frames\":[", out);
	for (size_t j = 0; j < r->nframes; j++) {
		fputs(j ? ",{" : "{", out);
		json_frame_fields(out, &r->frames[j], F_ALL);
		fputs(",\"source\":", out);
		json_source(out, t, &r->frames[j]);
		fputc('}', out);
	}
	fputc(']', out);
}

static void json_row(FILE *out, const struct format_table *t, const struct group_desc *g,
		     const struct model_row *r)
{
	fputc('{', out);
	json_frame_fields(out, r->frame, g->fields);
	fprintf(out, ",\"size\":%" PRId64 ",\"count\":%" PRId64 ",\"allocated\":%" PRIu64
		",\"allocations\":%" PRIu64 ",\"source\":",
		r->size, r->count, r->allocated, r->allocations);
	if (g->source)
		json_source(out, t, r->frame);
	else
		fputs("null", out);
	if (t->has_base)
		fprintf(out, ",\"size_diff\":%" PRId64 ",\"count_diff\":%" PRId64,
			r->size_diff, r->count_diff);
	if (g->frames)
		json_frames(out, t, r);
	fputc('}', out);
}

static void json_time(FILE *out, uint64_t ns)
{
	time_t sec = (time_t)(ns / 1000000000u);
	struct tm tm;
	char buf[32];
	if (ns && gmtime_r(&sec, &tm) && strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
		fprintf(out, "\"time\":\"%s\",\"time_ns\":%" PRIu64, buf, ns);
	else
		fputs("\"time\":null,\"time_ns\":null", out);
}

/* The process's fields, null without INFO. */
static void json_info(FILE *out, const struct heap_info *info)
{
	if (!info) {
		fputs("\"pid\":null,\"exe\":null,\"cmdline\":null,\"time\":null,\"time_ns\":null,"
		      "\"seq\":null,\"final\":false,\"exit_status\":null", out);
		return;
	}
	fprintf(out, "\"pid\":%" PRIu32 ",\"exe\":", info->pid);
	json_str(out, info->exe);
	fputs(",\"cmdline\":", out);
	json_str(out, info->cmdline);
	fputc(',', out);
	json_time(out, info->time_ns);
	fprintf(out, ",\"seq\":%" PRIu64 ",\"final\":%s,\"exit_status\":", info->seq,
		info->final ? "true" : "false");
	if (info->final)
		fprintf(out, "%d", info->exit_status);
	else
		fputs("null", out);
}

static void json_process(FILE *out, const struct heap_info *info)
{
	int sampled = info && info->agent_flags & HT_AGENT_SAMPLED;
	fprintf(out, ",\"sampled\":%s,\"sample_bytes\":", sampled ? "true" : "false");
	if (sampled)
		fprintf(out, "%" PRIu64, info->sample_bytes);
	else
		fputs("null", out);
	fprintf(out, ",\"new_untraced\":%s",
		info && info->agent_flags & HT_AGENT_NEW_UNSEEN ? "true" : "false");
	if (info)
		fprintf(out, ",\"unwind\":\"%s\"",
			info->agent_flags & HT_AGENT_FRAME_POINTERS ? "fp"
			: info->agent_flags & HT_AGENT_DWARF	    ? "dwarf"
								    : "libunwind");
	else
		fputs(",\"unwind\":null", out);
}

static void json_totals(FILE *out, const struct format_table *t)
{
	int64_t size, count;
	model_total(t->m, &size, &count);
	fprintf(out, ",\"total\":{\"size\":%" PRId64 ",\"count\":%" PRId64 "}", size, count);
	if (t->has_base) {
		model_base_total(t->m, &size, &count);
		fprintf(out, ",\"base_total\":{\"size\":%" PRId64 ",\"count\":%" PRId64 "}",
			size, count);
	}
	if (t->info)
		fprintf(out, ",\"peak\":%" PRIu64 ",\"live\":{\"size\":%" PRIu64
			",\"count\":%" PRIu64 "}",
			t->info->peak_bytes, t->info->live_bytes, t->info->live_blocks);
	else
		fputs(",\"peak\":null,\"live\":null", out);
}

static void json_other(FILE *out, const struct format_table *t)
{
	struct other o = other_rows(t);
	fprintf(out, ",\"other\":{\"rows\":%zu,\"size\":%" PRId64 ",\"count\":%" PRId64,
		o.rows, o.size, o.count);
	if (t->has_base)
		fprintf(out, ",\"size_diff\":%" PRId64 ",\"count_diff\":%" PRId64,
			o.size_diff, o.count_diff);
	fputc('}', out);
}

static void json_print(FILE *out, const struct format_table *t)
{
	const struct group_desc *g = group_of(t);
	size_t shown = shown_rows(t);
	fputc('{', out);
	json_info(out, t->info);
	fputs(",\"group_by\":", out);
	json_str(out, model_group_name(t->opts->group));
	json_process(out, t->info);
	json_totals(out, t);
	fputs(",\"rows\":[", out);
	for (size_t i = 0; i < shown; i++) {
		if (i)
			fputc(',', out);
		json_row(out, t, g, model_row(t->m, i));
	}
	fputc(']', out);
	json_other(out, t);
	fputs("}\n", out);
}

/* ---- the table of formats ---------------------------------------------- */

static const struct format_desc {
	const char *name;
	void (*print)(FILE *out, const struct format_table *t);
} formats[] = {
	[FORMAT_PRETTY] = { "pretty", pretty_print },
	[FORMAT_STATS] = { "stats", stats_print },
	[FORMAT_JSON] = { "json", json_print },
};

#define NFORMATS ((int)(sizeof formats / sizeof formats[0]))

int format_parse(const char *name)
{
	for (int i = 0; i < NFORMATS; i++)
		if (strcmp(formats[i].name, name) == 0)
			return i;
	return -1;
}

const char *format_name(int fmt)
{
	return fmt >= 0 && fmt < NFORMATS ? formats[fmt].name : NULL;
}

void format_print(int fmt, FILE *out, const struct format_table *t)
{
	if (fmt >= 0 && fmt < NFORMATS)
		formats[fmt].print(out, t);
}
