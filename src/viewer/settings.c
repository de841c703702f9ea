/* Settings from the configuration file and the command line. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "viewer/format.h"
#include "viewer/linecache.h"
#include "viewer/live.h"
#include "viewer/settings.h"

typedef int (*setter)(struct settings *s, const char *value, char **cause);

static int parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = 1, 0;
		if (strcasecmp(v, no[i]) == 0)
			return *out = 0, 0;
	}
	return -1;
}

static int parse_long(const char *v, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < lo || n > hi)
		return -1;
	*out = n;
	return 0;
}

int settings_parse_bytes(const char *text, uint64_t *out)
{
	static const struct { const char *suffix; unsigned shift; } units[] = {
		{ "", 0 }, { "B", 0 }, { "K", 10 }, { "KiB", 10 }, { "k", 10 },
		{ "M", 20 }, { "MiB", 20 }, { "G", 30 }, { "GiB", 30 },
	};
	char *end;
	errno = 0;
	if (*text == '-' || *text == '\0')
		return -1;
	unsigned long long n = strtoull(text, &end, 10);
	if (errno || end == text)
		return -1;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (n > (UINT64_MAX >> units[i].shift))
			return -1;
		*out = (uint64_t)n << units[i].shift;
		return 0;
	}
	return -1;
}

static int bad(char **cause, const char *what, const char *value, const char *expected)
{
	*cause = xasprintf("%s: expected %s, got '%s'", what, expected, value);
	return -1;
}

static int set_delay(struct settings *s, const char *v, char **cause)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || !(d >= 0.01 && d <= 86400))
		return bad(cause, "delay", v, "seconds from 0.01 to 86400");
	s->delay = d;
	return 0;
}

static int set_iterations(struct settings *s, const char *v, char **cause)
{
	return parse_long(v, 1, LONG_MAX, &s->iterations) < 0
		       ? bad(cause, "iterations", v, "a whole number from 1") : 0;
}

static int set_limit(struct settings *s, const char *v, char **cause)
{
	return parse_long(v, 1, LONG_MAX, &s->limit) < 0
		       ? bad(cause, "limit", v, "a whole number from 1") : 0;
}

static int set_group(struct settings *s, const char *v, char **cause)
{
	int g = model_group_parse(v);
	if (g < 0)
		return bad(cause, "group-by", v, "line, function, file, module or traceback");
	s->group = (enum model_group)g;
	return 0;
}

static int set_sort(struct settings *s, const char *v, char **cause)
{
	int k = model_sort_parse(v);
	if (k < 0)
		return bad(cause, "sort", v, "size, count, average, allocated or delta");
	s->sort = (enum model_sort)k;
	s->sort_given = 1;
	return 0;
}

static int set_format(struct settings *s, const char *v, char **cause)
{
	int f = format_parse(v);
	if (f < 0)
		return bad(cause, "format", v, "pretty, stats or json");
	s->format = f;
	return 0;
}

static int set_flag(int *flag, const char *what, const char *v, char **cause)
{
	return parse_bool(v, flag) < 0 ? bad(cause, what, v, "yes or no") : 0;
}

static int set_cumulative(struct settings *s, const char *v, char **cause)
{
	return set_flag(&s->cumulative, "cumulative", v, cause);
}

static int set_reverse(struct settings *s, const char *v, char **cause)
{
	return set_flag(&s->reverse, "reverse", v, cause);
}

static int set_all_frames(struct settings *s, const char *v, char **cause)
{
	return set_flag(&s->all_frames, "all_frames", v, cause);
}

static int set_skip_system(struct settings *s, const char *v, char **cause)
{
	return set_flag(&s->skip_system, "skip_system", v, cause);
}

static int set_depth(struct settings *s, const char *v, char **cause)
{
	long d;
	if (parse_long(v, 1, 256, &d) < 0)
		return bad(cause, "depth", v, "a whole number from 1 to 256");
	s->depth = (unsigned)d;
	return 0;
}

static int set_sample(struct settings *s, const char *v, char **cause)
{
	if (settings_parse_bytes(v, &s->sample) < 0)
		return bad(cause, "sample", v, "a size in bytes such as 524288 or 512K");
	return 0;
}

static int set_preview(struct settings *s, const char *v, char **cause)
{
	return set_flag(&s->preview, "preview", v, cause);
}

static int set_color(struct settings *s, const char *v, char **cause)
{
	static const char *const names[] = {
		[SETTINGS_COLOR_AUTO] = "auto", [SETTINGS_COLOR_ALWAYS] = "always",
		[SETTINGS_COLOR_NEVER] = "never",
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(v, names[i]) == 0) {
			s->color = (enum settings_color)i;
			return 0;
		}
	}
	return bad(cause, "color", v, "auto, always or never");
}

static int set_columns(struct settings *s, const char *v, char **cause)
{
	enum live_column cols[LIVE_NCOLUMNS];
	const char *where;
	if (live_columns_parse(v, cols, &where) < 0)
		return bad(cause, "columns", v, "a comma-separated list of size, delta_size, "
			   "percent, count, delta_count, born, average, allocated, location "
			   "and function, each once");
	free(s->columns);
	s->columns = xstrdup(v);
	return 0;
}

static int set_unwind(struct settings *s, const char *v, char **cause)
{
	static const char *const methods[] = { "dwarf", "libunwind", "fp" };
	for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
		if (strcmp(v, methods[i]) == 0) {
			s->unwind = methods[i];
			return 0;
		}
	return bad(cause, "unwind", v, "dwarf, libunwind or fp");
}

static int add_source_dir(struct settings *s, const char *v, char **cause)
{
	strv_push(&s->source_dirs, v);
	return 0;
}

static int add_substitute(struct settings *s, const char *v, char **cause)
{
	const char *eq = strchr(v, '=');
	if (!eq || eq == v)
		return bad(cause, "substitute-path", v, "FROM=TO");
	char *from = xstrndup(v, (size_t)(eq - v));
	strv_push(&s->subst_from, from);
	strv_push(&s->subst_to, eq + 1);
	free(from);
	return 0;
}

static int add_include(struct settings *s, const char *v, char **cause)
{
	strv_push(&s->include, v);
	return 0;
}

static int add_exclude(struct settings *s, const char *v, char **cause)
{
	strv_push(&s->exclude, v);
	return 0;
}

static int add_skip(struct settings *s, const char *v, char **cause)
{
	strv_push(&s->skip, v);
	return 0;
}

/* Keys of the configuration file's fixed sections. */
static const struct config_key {
	const char *section, *name;
	setter set;
} config_keys[] = {
	{ "view", "delay", set_delay },
	{ "view", "limit", set_limit },
	{ "view", "group", set_group },
	{ "view", "sort", set_sort },
	{ "view", "reverse", set_reverse },
	{ "view", "format", set_format },
	{ "view", "cumulative", set_cumulative },
	{ "view", "all_frames", set_all_frames },
	{ "view", "skip_system", set_skip_system },
	{ "view", "columns", set_columns },
	{ "view", "color", set_color },
	{ "view", "preview", set_preview },
	{ "agent", "depth", set_depth },
	{ "agent", "sample", set_sample },
	{ "agent", "unwind", set_unwind },
	{ "source", "dir", add_source_dir },
	{ "source", "substitute", add_substitute },
};

#define FILTER_PREFIX "filter "

struct config_state {
	struct settings *s;
	FILE *f;
	int line;       /* lines read so far: the one inih is parsing */
	int cause_line; /* where cause was found */
	char *cause;
};

static struct named_filter *filter_named(struct settings *s, const char *name)
{
	for (size_t i = 0; i < s->nfilters; i++)
		if (strcmp(s->filters[i].name, name) == 0)
			return &s->filters[i];
	s->filters = xreallocarray(s->filters, s->nfilters + 1, sizeof *s->filters);
	struct named_filter *f = &s->filters[s->nfilters++];
	memset(f, 0, sizeof *f);
	f->name = xstrdup(name);
	f->enabled = 1;
	return f;
}

static int filter_key(struct config_state *st, const char *name, const char *key,
		      const char *value)
{
	struct named_filter *f = filter_named(st->s, name);
	if (strcmp(key, "include") == 0)
		strv_push(&f->include, value);
	else if (strcmp(key, "exclude") == 0)
		strv_push(&f->exclude, value);
	else if (strcmp(key, "skip") == 0)
		strv_push(&f->skip, value);
	else if (strcmp(key, "enabled") == 0)
		return set_flag(&f->enabled, "enabled", value, &st->cause) == 0;
	else
		st->cause = xasprintf("unknown key '%s' in [filter %s] (include, exclude, "
				      "skip or enabled)", key, name);
	return st->cause == NULL;
}

/* One setting; 1 to go on, 0 with st->cause set. */
static int config_setting(struct config_state *st, const char *section, const char *key,
			  const char *value)
{
	if (!*section) {
		st->cause = xasprintf("'%s' before any section ([view], [agent], [source] or "
				      "[filter NAME])", key);
		return 0;
	}
	if (strncmp(section, FILTER_PREFIX, strlen(FILTER_PREFIX)) == 0 &&
	    section[strlen(FILTER_PREFIX)] != '\0')
		return filter_key(st, section + strlen(FILTER_PREFIX), key, value);
	int known_section = 0;
	for (size_t i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++) {
		const struct config_key *k = &config_keys[i];
		if (strcmp(section, k->section) != 0)
			continue;
		known_section = 1;
		if (strcmp(key, k->name) == 0)
			return k->set(st->s, value, &st->cause) == 0;
	}
	st->cause = known_section
			    ? xasprintf("unknown key '%s' in [%s]", key, section)
			    : xasprintf("unknown section [%s] (view, agent, source or "
					"\"filter NAME\")", section);
	return 0;
}

/* inih's callback: 1 to go on, 0 for an error on this line.  inih goes on
 * after one: only the first error of ours is kept, with its line. */
static int config_entry(void *user, const char *section, const char *key, const char *value)
{
	struct config_state *st = user;
	if (st->cause)
		return 0;
	if (config_setting(st, section, key, value))
		return 1;
	st->cause_line = st->line;
	return 0;
}

/* inih's reader: fgets, counting lines, so that an error of ours is told
 * apart from inih's syntax errors (it returns the first line of either).
 * inih takes a line longer than its buffer as several: the rest of such a
 * line is skipped here, quietly for a comment, as an error otherwise, so
 * that its lines stay the file's. */
static char *config_line(char *str, int num, void *stream)
{
	struct config_state *st = stream;
	char *r = fgets(str, num, st->f);
	if (!r)
		return NULL;
	st->line++;
	size_t n = strlen(r);
	if (n == 0 || r[n - 1] == '\n' || feof(st->f))
		return r;
	int c;
	while ((c = getc(st->f)) != EOF && c != '\n')
		;
	const char *p = r + strspn(r, " \t");
	if (*p != ';' && *p != '#' && !st->cause) {
		st->cause = xasprintf("line longer than %d characters", num - 2);
		st->cause_line = st->line;
	}
	return r;
}

int settings_read_config(struct settings *s, const char *file, char **cause)
{
	struct config_state st = { s, NULL, 0, 0, NULL };
	FILE *f = fopen(file, "r");
	if (!f) {
		*cause = xasprintf("%s: %s", file, strerror(errno));
		return -1;
	}
	struct stat sb;
	if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		fclose(f);
		*cause = xasprintf("%s: %s", file, strerror(EISDIR));
		return -1;
	}
	st.f = f;
	int line = ini_parse_stream(config_line, &st, config_entry, &st);
	int read_error = ferror(f) ? errno : 0;
	fclose(f);
	if (line == 0 && read_error) {
		free(st.cause);
		*cause = xasprintf("%s: %s", file, strerror(read_error));
		return -1;
	}
	if (line == 0 && !st.cause) {
		free(s->config_path);
		s->config_path = xstrdup(file);
		return 0;
	}
	/* The first error is the one to fix: ours, or inih's (a section
	 * without its ']', a line without '=' or ':'). */
	if (st.cause && (line == 0 || st.cause_line <= line))
		*cause = xasprintf("%s:%d: %s", file, st.cause_line, st.cause);
	else
		*cause = xasprintf("%s:%d: syntax error (a [section] or a key = value)", file, line);
	free(st.cause);
	return -1;
}

/* The configuration named by --config, else the user's, if it exists. */
static int load_config(struct settings *s, const char *explicit, char **cause)
{
	if (explicit)
		return settings_read_config(s, explicit, cause);
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char *path;
	if (xdg && *xdg == '/')
		path = xasprintf("%s/heaptop/heaptoprc", xdg);
	else if (home && *home)
		path = xasprintf("%s/.config/heaptop/heaptoprc", home);
	else
		return 0;
	int r = access(path, F_OK) == 0 ? settings_read_config(s, path, cause) : 0;
	free(path);
	return r;
}

enum {
	OPT_ALL_FRAMES = 256, OPT_NO_SKIP_SYSTEM, OPT_DIFF, OPT_FORMAT, OPT_DEPTH,
	OPT_SAMPLE, OPT_UNWIND, OPT_CONFIG, OPT_SOURCE_DIR, OPT_SUBSTITUTE, OPT_OUTPUT, OPT_DEMO,
	OPT_BASE, OPT_COLOR,
};

static const struct option long_options[] = {
	{ "batch", no_argument, NULL, 'b' },
	{ "iterations", required_argument, NULL, 'n' },
	{ "delay", required_argument, NULL, 'd' },
	{ "limit", required_argument, NULL, 'l' },
	{ "group-by", required_argument, NULL, 'g' },
	{ "sort", required_argument, NULL, 's' },
	{ "reverse", no_argument, NULL, 'r' },
	{ "cumulative", no_argument, NULL, 'c' },
	{ "exclude", required_argument, NULL, 'x' },
	{ "include", required_argument, NULL, 'i' },
	{ "skip", required_argument, NULL, 'k' },
	{ "all-frames", no_argument, NULL, OPT_ALL_FRAMES },
	{ "no-skip-system", no_argument, NULL, OPT_NO_SKIP_SYSTEM },
	{ "diff", no_argument, NULL, OPT_DIFF },
	{ "save", required_argument, NULL, 'o' },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "depth", required_argument, NULL, OPT_DEPTH },
	{ "sample", required_argument, NULL, OPT_SAMPLE },
	{ "unwind", required_argument, NULL, OPT_UNWIND },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "source-dir", required_argument, NULL, OPT_SOURCE_DIR },
	{ "substitute-path", required_argument, NULL, OPT_SUBSTITUTE },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "pid", required_argument, NULL, 'p' },
	{ "demo", no_argument, NULL, OPT_DEMO },
	{ "base", required_argument, NULL, OPT_BASE },
	{ "color", required_argument, NULL, OPT_COLOR },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};
/* ":" first: getopt tells a missing value (':') from an unknown option ('?'). */
#define SHORT_OPTIONS "bn:d:l:g:s:rcx:i:k:o:p:hV"

static void usage(void)
{
	fputs("usage: heaptop [OPTIONS] -- PROGRAM [ARG...]\n"
	      "       heaptop [OPTIONS] -p PID\n"
	      "       heaptop [OPTIONS] --demo\n"
	      "       heaptop report [OPTIONS] SNAPSHOT [--base OLD]\n"
	      "       heaptop list\n"
	      "\n"
	      "  -b, --batch              print tables instead of the live view\n"
	      "  -n, --iterations N       stop after N tables\n"
	      "  -d, --delay SECONDS      time between tables (default 1)\n"
	      "  -l, --limit N            rows per table (batch default 10)\n"
	      "  -g, --group-by KEY       line, function, file, module or traceback\n"
	      "  -s, --sort KEY           size, count, average, allocated or delta\n"
	      "  -r, --reverse            smallest first\n"
	      "  -c, --cumulative         count a block for every frame of its stack\n"
	      "  -i, --include PATTERN    keep only matching sites (repeatable)\n"
	      "  -x, --exclude PATTERN    drop matching sites (repeatable)\n"
	      "      --all-frames         filters test every frame, not only the site\n"
	      "  -k, --skip PATTERN       frames never to attribute to, e.g. xmalloc\n"
	      "      --no-skip-system     attribute to C library and runtime frames too\n"
	      "      --diff               compare every table with the first\n"
	      "  -o, --save FILE          write the last snapshot to FILE\n"
	      "      --format FORMAT      pretty, stats or json\n"
	      "      --depth N            frames the agent records (1-256)\n"
	      "      --sample BYTES       sample one allocation per BYTES on average\n"
	      "      --unwind METHOD      dwarf (default), libunwind or fp (frame pointers)\n"
	      "      --config FILE        read settings from FILE\n"
	      "      --source-dir DIR     look for source files in DIR too\n"
	      "      --substitute-path FROM=TO  read sources under FROM from TO\n"
	      "      --output FILE        the program's stdout and stderr go to FILE\n"
	      "                           (live view default: a log file, see its help)\n"
	      "      --color WHEN         live view colours: auto, always or never\n"
	      "  -p, --pid PID            watch a process that runs with the agent\n"
	      "      --demo               watch the bundled demo program\n"
	      "  -h, --help               show this help\n"
	      "  -V, --version            show the version\n",
	      stdout);
}

/* Apply one command-line option. */
static int apply_option(struct settings *s, int ch, const char *arg, char **cause)
{
	static const struct { int ch; setter set; } table[] = {
		{ 'n', set_iterations }, { 'd', set_delay }, { 'l', set_limit },
		{ 'g', set_group }, { 's', set_sort }, { 'x', add_exclude },
		{ 'i', add_include }, { 'k', add_skip }, { OPT_FORMAT, set_format },
		{ OPT_DEPTH, set_depth }, { OPT_SAMPLE, set_sample },
		{ OPT_UNWIND, set_unwind },
		{ OPT_SOURCE_DIR, add_source_dir }, { OPT_SUBSTITUTE, add_substitute },
		{ OPT_COLOR, set_color },
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (table[i].ch == ch)
			return table[i].set(s, arg, cause);
	long pid;
	switch (ch) {
	case 'b': s->batch = 1; return 0;
	case 'r': s->reverse = 1; return 0;
	case 'c': s->cumulative = 1; return 0;
	case OPT_ALL_FRAMES: s->all_frames = 1; return 0;
	case OPT_NO_SKIP_SYSTEM: s->skip_system = 0; return 0;
	case OPT_DIFF: s->diff = 1; return 0;
	case OPT_DEMO: s->mode = MODE_DEMO; return 0;
	case OPT_CONFIG: return 0; /* read before the other options */
	case 'o': free(s->save); s->save = xstrdup(arg); return 0;
	case OPT_OUTPUT: free(s->output); s->output = xstrdup(arg); return 0;
	case OPT_BASE: free(s->base_file); s->base_file = xstrdup(arg); return 0;
	case 'p':
		if (parse_long(arg, 1, INT_MAX, &pid) < 0)
			return bad(cause, "pid", arg, "a process id");
		s->pid = (pid_t)pid;
		s->mode = MODE_PID;
		return 0;
	}
	return -1;
}

static void settings_defaults(struct settings *s)
{
	memset(s, 0, sizeof *s);
	s->delay = 1;
	s->format = format_parse("pretty");
	s->group = GROUP_LINE;
	s->sort = SORT_SIZE;
	s->skip_system = 1;
}

/* --config FILE, wherever it is on the command line. */
static const char *find_config_option(int argc, char **argv)
{
	const char *found = NULL;
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			found = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			found = argv[i] + 9;
	}
	return found;
}

/* The long option that ARG ("--name" or "--name=value") spells, by its
 * val; NULL when ARG is not one. */
static const struct option *long_option_of(const char *arg, int val)
{
	if (strncmp(arg, "--", 2) != 0)
		return NULL;
	size_t n = strcspn(arg + 2, "=");
	for (const struct option *o = long_options; o->name; o++)
		if (o->val == val && n > 0 && strncmp(o->name, arg + 2, n) == 0)
			return o;
	return NULL;
}

static int option_error(int ch, char **argv, char **cause)
{
	const char *what = ch == ':' ? "option needs a value" : "unknown option";
	/* getopt_long sets optopt to a long option's val ('b' for --batch=3),
	 * so name a long option as the user wrote it. */
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	const struct option *lo = optopt ? long_option_of(arg, optopt) : NULL;
	if (lo && ch == '?' && lo->has_arg == no_argument)
		*cause = xasprintf("option '--%s' takes no value (see heaptop --help)", lo->name);
	else if (lo)
		*cause = xasprintf("%s: '--%s' (see heaptop --help)", what, lo->name);
	else if (optopt)
		*cause = xasprintf("%s: '-%c' (see heaptop --help)", what, optopt);
	else
		*cause = xasprintf("%s: '%s' (see heaptop --help)", what, argv[optind - 1]);
	return -1;
}

/* What is left after the options: the program, or the report's files. */
static int positional(struct settings *s, int argc, char **argv, char **cause)
{
	char **rest = argv + optind;
	int nrest = argc - optind;
	if (s->mode == MODE_REPORT) {
		if (nrest != 1) {
			*cause = xstrdup(nrest ? "report takes one snapshot file"
					       : "report needs a snapshot file");
			return -1;
		}
		s->report_file = xstrdup(rest[0]);
		return 0;
	}
	if (s->base_file) {
		*cause = xstrdup("--base belongs to 'heaptop report'");
		return -1;
	}
	if (nrest > 0 && (s->mode == MODE_PID || s->mode == MODE_DEMO)) {
		*cause = xasprintf("%s and a program to run exclude each other",
				   s->mode == MODE_PID ? "-p" : "--demo");
		return -1;
	}
	if (nrest == 0 && s->mode == MODE_PROGRAM) {
		*cause = xstrdup("no program to run (usage: heaptop [OPTIONS] -- PROGRAM "
				 "[ARG...], or heaptop --help)");
		return -1;
	}
	s->program = nrest ? rest : NULL;
	return 0;
}

/* The long name of option CH, with its dashes, for messages. */
static const char *option_name(int ch, char shortname[3])
{
	for (const struct option *o = long_options; ch >= 256 && o->name; o++)
		if (o->val == ch)
			return o->name;
	shortname[0] = '-';
	shortname[1] = (char)ch;
	shortname[2] = '\0';
	return shortname;
}

/* Options that set up a launched program (the agent's settings, its
 * output), which a process already running with its agent (-p) has no use
 * for. */
static int launch_only(int ch)
{
	return ch == OPT_DEPTH || ch == OPT_SAMPLE || ch == OPT_UNWIND || ch == OPT_OUTPUT;
}

/* Options of a run (its tables over time, the agent's settings, the
 * program's output) that a report of one snapshot file has no use for. */
static int report_ignores(int ch)
{
	switch (ch) {
	case 'n': case 'd': case OPT_DIFF: case OPT_DEPTH: case OPT_SAMPLE:
	case OPT_UNWIND: case OPT_OUTPUT: case OPT_COLOR:
		return 1;
	default:
		return 0;
	}
}

int settings_load(struct settings *s, int argc, char **argv, char **cause)
{
	settings_defaults(s);
	if (argc > 1 && strcmp(argv[1], "list") == 0) {
		s->mode = MODE_LIST;
		if (argc > 2) {
			*cause = xstrdup("list takes no arguments");
			return -1;
		}
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "report") == 0) {
		s->mode = MODE_REPORT;
		argv++;
		argc--;
	}
	enum settings_mode mode = s->mode;
	int ch, launched = 0; /* the first launch-only option given */
	/* report takes its file anywhere; a program's own options must not be
	 * read as ours, so elsewhere options stop at the first non-option. */
	const char *opts = mode == MODE_REPORT ? ":" SHORT_OPTIONS : "+:" SHORT_OPTIONS;
	/* --help and --version answer whatever the configuration file says. */
	opterr = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, opts, long_options, NULL)) != -1 && ch != '?' &&
	       ch != ':') {
		if (ch == 'h')
			return usage(), 1;
		if (ch == 'V')
			return puts(PACKAGE_STRING), 1;
	}
	if (load_config(s, find_config_option(argc, argv), cause) < 0)
		return -1;
	optind = 0;
	while ((ch = getopt_long(argc, argv, opts, long_options, NULL)) != -1) {
		if (ch == '?' || ch == ':')
			return option_error(ch, argv, cause);
		if (mode == MODE_REPORT && (ch == 'p' || ch == OPT_DEMO)) {
			*cause = xstrdup("report reads a snapshot file; -p and --demo do not apply");
			return -1;
		}
		char shortname[3];
		if (mode == MODE_REPORT && report_ignores(ch)) {
			*cause = xasprintf("report prints one table from a file; %s%s does not "
					   "apply (see heaptop --help)", ch >= 256 ? "--" : "",
					   option_name(ch, shortname));
			return -1;
		}
		if (launch_only(ch) && !launched)
			launched = ch;
		if (apply_option(s, ch, optarg, cause) < 0) {
			char *c = *cause;
			*cause = xasprintf("%s (see heaptop --help)", c);
			free(c);
			return -1;
		}
	}
	/* Given on the command line only: a configuration file may set them
	 * for the programs heaptop launches. */
	if (s->mode == MODE_PID && launched) {
		char shortname[3];
		*cause = xasprintf("-p watches a process whose agent is already set up; %s%s "
				   "applies only to a program heaptop launches (see heaptop --help)",
				   launched >= 256 ? "--" : "", option_name(launched, shortname));
		return -1;
	}
	return positional(s, argc, argv, cause);
}

void settings_model_options(const struct settings *s, struct model_options *o,
			    struct strv *include, struct strv *exclude, struct strv *skip)
{
	strv_extend(include, &s->include);
	strv_extend(exclude, &s->exclude);
	strv_extend(skip, &s->skip);
	for (size_t i = 0; i < s->nfilters; i++) {
		const struct named_filter *f = &s->filters[i];
		if (!f->enabled)
			continue;
		strv_extend(include, &f->include);
		strv_extend(exclude, &f->exclude);
		strv_extend(skip, &f->skip);
	}
	*o = (struct model_options){
		.group = s->group, .sort = s->sort, .reverse = s->reverse,
		.cumulative = s->cumulative, .all_frames = s->all_frames,
		.skip_system = s->skip_system,
		.include = include->n ? strv_array(include) : NULL,
		.exclude = exclude->n ? strv_array(exclude) : NULL,
		.skip = skip->n ? strv_array(skip) : NULL,
	};
}

struct linecache *settings_linecache(const struct settings *s)
{
	struct linecache *lc = linecache_new();
	for (size_t i = 0; i < s->subst_from.n; i++)
		linecache_add_substitution(lc, s->subst_from.v[i], s->subst_to.v[i]);
	for (size_t i = 0; i < s->source_dirs.n; i++)
		linecache_add_source_dir(lc, s->source_dirs.v[i]);
	return lc;
}

void settings_free(struct settings *s)
{
	free(s->report_file);
	free(s->base_file);
	free(s->save);
	free(s->output);
	free(s->config_path);
	free(s->columns);
	strv_clear(&s->include);
	strv_clear(&s->exclude);
	strv_clear(&s->skip);
	strv_clear(&s->source_dirs);
	strv_clear(&s->subst_from);
	strv_clear(&s->subst_to);
	for (size_t i = 0; i < s->nfilters; i++) {
		free(s->filters[i].name);
		strv_clear(&s->filters[i].include);
		strv_clear(&s->filters[i].exclude);
		strv_clear(&s->filters[i].skip);
	}
	free(s->filters);
}
