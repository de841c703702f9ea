/*
 * Settings: everything the user chose, from the configuration file
 * ($XDG_CONFIG_HOME/heaptop/heaptoprc or --config FILE) and then the command
 * line, which wins.  The same setters serve both, so a configuration key and
 * its option always accept the same values.
 *
 * Ownership: a settings struct owns its strings and arrays (settings_free).
 */
#ifndef HEAPTOP_SETTINGS_H
#define HEAPTOP_SETTINGS_H

#include <stdint.h>
#include <sys/types.h>

#include "common/strv.h"
#include "viewer/model.h"

enum settings_mode { MODE_PROGRAM, MODE_PID, MODE_DEMO, MODE_REPORT, MODE_LIST };

/* When the live view uses colours ([view] color, --color). */
enum settings_color { SETTINGS_COLOR_AUTO, SETTINGS_COLOR_ALWAYS, SETTINGS_COLOR_NEVER };

/* A named filter from the configuration; the live view toggles them. */
struct named_filter {
	char *name;
	struct strv include, exclude, skip;
	int enabled;
};

struct settings {
	enum settings_mode mode;
	char **program;           /* MODE_PROGRAM: argv of the program (not owned) */
	pid_t pid;                /* MODE_PID */
	char *report_file;        /* MODE_REPORT: the snapshot file */
	char *base_file;          /* MODE_REPORT: --base */

	int batch;
	long iterations;          /* 0: until the program ends */
	double delay;             /* seconds between refreshes */
	long limit;               /* rows; 0: the front end's default */
	int format;               /* FORMAT_* of format.h */
	int diff;                 /* compare every table with the first */
	char *save;               /* -o: write the last snapshot here */
	char *output;             /* the launched program's stdout and stderr */

	enum model_group group;
	enum model_sort sort;
	int sort_given;           /* sort set by -s or the configuration */
	int reverse, cumulative, all_frames, skip_system;
	struct strv include, exclude, skip; /* from the command line */
	struct named_filter *filters;       /* from the configuration */
	size_t nfilters;

	unsigned depth;           /* HEAPTOP_DEPTH for the agent; 0: its default */
	uint64_t sample;          /* HEAPTOP_SAMPLE; 0: exact */
	const char *unwind;       /* HEAPTOP_UNWIND: "dwarf", "libunwind" or "fp"
				     (static strings); NULL: the agent's default */
	struct strv source_dirs;
	struct strv subst_from, subst_to;
	char *config_path;        /* the file that was read, if any */

	/* The live view */
	char *columns;            /* [view] columns, checked; NULL: all */
	enum settings_color color;
	int preview;              /* a source line under every row */
};

/* Fill S from the configuration file and ARGV.  Returns 0; 1 when the
 * command line asked for help or the version (printed to stdout, nothing
 * else to do); -1 with *CAUSE set (one line) for a usage or configuration
 * error. */
int settings_load(struct settings *s, int argc, char **argv, char **cause);
/* Read one configuration FILE into S; -1 with *CAUSE naming file and line. */
int settings_read_config(struct settings *s, const char *file, char **cause);
/* The model options S asks for.  INCLUDE, EXCLUDE and SKIP receive the
 * command line's patterns and those of the enabled named filters; the
 * options point into them. */
void settings_model_options(const struct settings *s, struct model_options *o,
			    struct strv *include, struct strv *exclude, struct strv *skip);
struct linecache;
/* A line cache that looks where S says (--source-dir, --substitute-path). */
struct linecache *settings_linecache(const struct settings *s);
/* Parse a size such as 524288, 512K, 512KiB, 1M, 2GiB. -1 when invalid. */
int settings_parse_bytes(const char *text, uint64_t *out);
void settings_free(struct settings *s);

#endif
