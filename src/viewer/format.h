/*
 * Batch output: one table of the model printed to a stream, in one of the
 * formats below (Python tracemalloc's output, byte for byte where it has
 * one).  Sizes in the text formats are tracemalloc's: "%.1f KiB" of
 * bytes / 1024 in pretty, _format_size ("4096 B", "12.5 KiB", "200 KiB")
 * in stats.  Paths are shown by their last two components ("dir/file.c"),
 * modules by their basename.
 *
 * pretty (tracemalloc's "pretty top" recipe):
 *   # pid 1234 ./prog args, 2026-11-21 14:00:03, live 1.2 MiB in 345 blocks, peak 2.0 MiB
 *   Top 2 lines
 *   #1: src/cache.c:212: 10240.0 KiB (+5120.0 KiB)
 *       p = malloc(n);
 *   #2: ...
 *   3 other: 12.0 KiB (-1.0 KiB)
 *   Total allocated size: 10252.0 KiB (+5119.0 KiB)
 *   <empty line>
 * The header (local time) only with header set; "# live at exit (status N):
 * pid ..." for a final heap.  The source line (stripped) only under line
 * rows whose source is available; the "(+x)" changes only with a base.
 * Traceback rows are "#1: 5 memory blocks: 10.0 KiB", then each frame from
 * the attributed one outwards as '  File "dir/f.c", line 42, in func' with
 * its source line under it.
 *
 * stats (tracemalloc's Statistic and, with a base, StatisticDiff):
 *   src/cache.c:212: size=200 KiB, count=50, average=4096 B
 *   src/cache.c:212: size=200 KiB (+100 KiB), count=50 (+25), average=4096 B
 * then an empty line; the header line first with header set.  Traceback
 * rows are named by their attributed frame.
 *
 * json: one object per table, on one line, sizes in bytes, null for what
 * is unknown or meaningless for the grouping (the line of a function row):
 *   {"pid":1234,"exe":"/bin/prog","cmdline":"prog args",
 *    "time":"2026-11-21T14:00:03Z","time_ns":N,"seq":N,
 *    "final":false,"exit_status":null,"group_by":"line",
 *    "sampled":false,"sample_bytes":null,"unwind":"libunwind",
 *    "total":{"size":N,"count":N},
 *    "base_total":{"size":N,"count":N},            (only with a base)
 *    "peak":N,"live":{"size":N,"count":N},
 *    "rows":[{"file":"/full/path.c","line":42,"function":"f",
 *             "module":"/usr/lib/libx.so","size":N,"count":N,
 *             "allocated":N,"allocations":N,"source":"text",
 *             "size_diff":N,"count_diff":N,            (only with a base)
 *             "frames":[{"file":..,"line":..,"function":..,"module":..,
 *                        "source":..},..]}],          (only for tracebacks)
 *    "other":{"rows":N,"size":N,"count":N}}
 * "time" is the snapshot's time in UTC to the second, "time_ns" the same in
 * nanoseconds since the epoch (both null when unknown); "total" the stacks
 * the filters kept, "live" and "peak" the whole process as the agent
 * counted it.  Strings are escaped; invalid UTF-8 becomes U+FFFD.
 */
#ifndef HEAPTOP_FORMAT_H
#define HEAPTOP_FORMAT_H

#include <stdint.h>
#include <stdio.h>

#include "viewer/heap.h"
#include "viewer/linecache.h"
#include "viewer/model.h"

enum format_kind { FORMAT_PRETTY, FORMAT_STATS, FORMAT_JSON };

/* One table to print.  Nothing here is owned.  A final heap (info->final)
 * prints as what was live at exit; to print one as final that the agent
 * did not mark so, pass a copy of its info with final and exit_status set. */
struct format_table {
	const struct heap_info *info;     /* the process; NULL: none known */
	const struct model *m;            /* computed rows */
	const struct model_options *opts; /* what m was computed with */
	long limit;                       /* rows shown; < 0: all */
	int has_base;                     /* m was computed against a base */
	int header;                       /* text formats: the "# pid" line */
	struct linecache *lc;             /* source lines; NULL: none */
};

/* The format named NAME ("pretty", "stats", "json"), or -1. */
int format_parse(const char *name);
/* The name of format FMT, or NULL for none. */
const char *format_name(int fmt);
/* Print T to OUT in format FMT (from format_parse). */
void format_print(int fmt, FILE *out, const struct format_table *t);

/* tracemalloc's _format_size(SIZE, SIGN) into BUF of N bytes ("+4.0 KiB"
 * with SIGN); returns BUF. */
char *format_size(char *buf, size_t n, double size, int sign);
/* STR of LEN bytes as a JSON string, quotes included, to OUT; control
 * characters escaped, invalid UTF-8 as \ufffd. */
void format_json_string(FILE *out, const char *str, size_t len);

#endif
