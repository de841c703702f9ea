/*
 * heaptop: run a program under the agent (or attach to one) and print the
 * allocation sites that hold the most memory.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "viewer/client.h"
#include "viewer/launch.h"
#include "viewer/snapshot.h"
#include "viewer/symbolizer.h"

#ifndef HEAPTOP_PKGLIBDIR
#define HEAPTOP_PKGLIBDIR "/usr/local/lib/heaptop"
#endif
#ifndef HEAPTOP_PKGLIBEXECDIR
#define HEAPTOP_PKGLIBEXECDIR "/usr/local/libexec/heaptop"
#endif

struct options {
	int batch;
	long iterations;   /* 0: until the program ends */
	double delay;      /* seconds between tables */
	long limit;        /* rows per table */
	pid_t pid;         /* -p */
	int demo;
	const char *output; /* the launched program's stdout/stderr */
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: heaptop [OPTIONS] -- PROGRAM [ARG...]\n"
		"       heaptop [OPTIONS] -p PID\n"
		"       heaptop --demo\n"
		"       heaptop list\n"
		"\n"
		"  -b, --batch            print tables to stdout instead of the live view\n"
		"  -n, --iterations N     stop after N tables\n"
		"  -d, --delay SECONDS    time between tables (default 1)\n"
		"  -l, --limit N          rows per table (default 10)\n"
		"  -p, --pid PID          watch a process that runs with the agent\n"
		"      --output FILE      send the program's stdout and stderr to FILE\n"
		"      --demo             watch the bundled demo program\n"
		"  -h, --help             show this help\n"
		"  -V, --version          show the version\n");
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("heaptop: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static long parse_long(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		die("%s: expected a whole number from %ld to %ld, got '%s'", opt, lo, hi, s);
	return v;
}

static double parse_seconds(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || end == s || !(v >= 0.01 && v <= 86400))
		die("%s: expected seconds from 0.01 to 86400, got '%s'", opt, s);
	return v;
}

/* A file next to the heaptop binary (the build tree), else the installed one. */
static char *find_file(const char *env, const char *beside, const char *installed)
{
	const char *e = getenv(env);
	if (e && *e)
		return xstrdup(e);
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			char *p = xasprintf("%s/%s", self, beside);
			if (access(p, R_OK) == 0)
				return p;
			free(p);
		}
	}
	return xstrdup(installed);
}

/* System frames are skipped when attributing a block to a site. */
static int system_module(const char *path)
{
	static const char *const prefixes[] = {
		"libc.so", "libstdc++.so", "ld-linux", "libgcc_s.so", "libm.so",
		"libheaptop.so", "libpthread.so", "libdl.so",
	};
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		if (strncmp(base, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

struct row {
	char *key;
	int64_t size, count;
};

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* The site of stack ID: "file:line (function)" of its attributed frame. */
static char *site_of(struct symbolizer *sym, const struct snapshot *s, uint32_t id)
{
	unsigned depth;
	const uint64_t *pcs = snapshot_stack(s, id, &depth);
	if (id == 0)
		return xstrdup("[stacks not recorded: table full]");
	struct sym_frame f = { 0 }, first = { 0 };
	for (unsigned i = 0; i < depth; i++) {
		struct sym_frame fr[8];
		int n = symbolizer_lookup(sym, pcs[i], 1, fr, 8);
		if (n < 1)
			continue;
		if (i == 0)
			first = fr[0];
		if (!fr[0].module || !system_module(fr[0].module)) {
			f = fr[0];
			break;
		}
	}
	if (!f.module && !f.function)
		f = first;
	const char *file = f.file ? f.file : f.module ? f.module : "??";
	const char *slash = strrchr(file, '/');
	if (slash && slash != file) {
		const char *prev = slash - 1;
		while (prev > file && *prev != '/')
			prev--;
		file = *prev == '/' ? prev + 1 : prev;
	}
	if (f.line)
		return xasprintf("%s:%u (%s)", file, f.line, f.function ? f.function : "??");
	return xasprintf("%s (%s)", file, f.function ? f.function : "??");
}

static void print_table(const struct snapshot *s, long limit)
{
	const struct snapshot_hello *h = snapshot_hello(s);
	const struct ht_globals *g = snapshot_globals(s);
	struct symbolizer *sym = symbolizer_new();
	for (size_t i = 0; i < snapshot_module_count(s); i++) {
		const struct snapshot_module *m = snapshot_module(s, i);
		symbolizer_add_module(sym, m->path, m->build_id, m->build_id_len, m->bias,
				      m->lo, m->hi);
	}
	uint32_t n = snapshot_stack_count(s);
	struct row *rows = xcalloc(n ? n : 1, sizeof *rows);
	size_t nrows = 0;
	for (uint32_t id = 0; id < n; id++) {
		struct snapshot_counter c = snapshot_counter(s, id);
		if (c.live_blocks <= 0)
			continue;
		char *key = site_of(sym, s, id);
		size_t j;
		for (j = 0; j < nrows && strcmp(rows[j].key, key) != 0; j++)
			;
		if (j == nrows)
			rows[nrows++].key = key;
		else
			free(key);
		rows[j].size += c.live_bytes;
		rows[j].count += c.live_blocks;
	}
	qsort(rows, nrows, sizeof *rows, row_cmp);
	printf("%s pid %u (%s): %.1f KiB live in %" PRIu64 " blocks, peak %.1f KiB\n",
	       g->flags & HT_GLOBAL_FINAL ? "Live at exit," : "Snapshot,", h->pid, h->cmdline,
	       g->live_bytes / 1024.0, g->live_blocks, g->peak_bytes / 1024.0);
	printf("Top %ld sites\n", limit);
	for (size_t i = 0; i < nrows; i++) {
		if ((long)i < limit)
			printf("#%zu: %s: %.1f KiB in %" PRId64 " blocks\n", i + 1, rows[i].key,
			       rows[i].size / 1024.0, rows[i].count);
		free(rows[i].key);
	}
	putchar('\n');
	fflush(stdout);
	free(rows);
	symbolizer_free(sym);
}

static void sleep_seconds(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };
	nanosleep(&ts, NULL);
}

/* Connect to the agent of PID, retrying while LAUNCH's program starts. */
static struct client *connect_agent(pid_t pid, struct launch *l, char **cause)
{
	char *path = client_default_socket_path(pid);
	struct client *c;
	int status;
	for (int tries = 0;; tries++) {
		free(*cause);
		*cause = NULL;
		c = client_connect(path, cause);
		if (c || !l || launch_poll(l, &status) || tries > 500 || interrupted)
			break;
		sleep_seconds(0.01);
	}
	free(path);
	return c;
}

static int watch(const struct options *o, struct launch *l, pid_t pid)
{
	struct snapshot *s = snapshot_new();
	char *cause = NULL;
	struct client *c = connect_agent(pid, l, &cause);
	if (!c && !l) {
		fprintf(stderr, "heaptop: %s (start it with: heaptop -- PROGRAM, or "
				"LD_PRELOAD=%s/libheaptop.so PROGRAM)\n",
			cause, HEAPTOP_PKGLIBDIR);
		free(cause);
		snapshot_free(s);
		return 1;
	}
	long shown = 0;
	int status = 0, ended = 0;
	while (c && !interrupted && (!o->iterations || shown < o->iterations)) {
		if (client_fetch(c, s, 0, 5000, &cause) < 0) {
			client_close(c);
			c = NULL;
			break;
		}
		print_table(s, o->limit);
		shown++;
		if (o->iterations && shown >= o->iterations)
			break;
		for (double t = 0; t < o->delay && !interrupted; t += 0.05)
			sleep_seconds(0.05);
		if (l && (ended = launch_poll(l, &status)))
			break;
	}
	client_close(c);
	int code = 0;
	if (l) {
		if (o->iterations && shown >= o->iterations)
			status = launch_terminate(l, 2000);
		else if (interrupted && !ended)
			status = launch_terminate(l, 2000);
		else
			status = launch_wait(l);
		code = launch_exit_code(status);
		struct snapshot *fin = snapshot_load_file(launch_final_path(l), &cause);
		if (fin) {
			print_table(fin, o->limit);
			snapshot_free(fin);
		} else if (!(o->iterations && shown >= o->iterations)) {
			fprintf(stderr, "heaptop: no live-at-exit snapshot (%s); the last table "
					"above is the latest\n", cause);
		}
	} else if (cause) {
		fprintf(stderr, "heaptop: %s\n", cause);
		code = 1;
	}
	free(cause);
	snapshot_free(s);
	return code;
}

static int list_agents(void)
{
	char *probe = client_default_socket_path(0);
	char *slash = strrchr(probe, '/');
	*slash = '\0';
	DIR *d = opendir(probe);
	printf("%7s  %-20s  %s\n", "PID", "STARTED", "COMMAND");
	if (!d) {
		free(probe);
		return 0;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (pid <= 0 || strcmp(end, ".sock") != 0)
			continue;
		char *path = xasprintf("%s/%s", probe, e->d_name), *cause = NULL;
		struct client *c = client_connect(path, &cause);
		struct snapshot *s = snapshot_new();
		if (c && client_fetch(c, s, 0, 2000, &cause) == 0) {
			const struct snapshot_hello *h = snapshot_hello(s);
			time_t t = (time_t)(h->start_ns / 1000000000u);
			char when[32];
			strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&t));
			printf("%7ld  %-20s  %s\n", pid, when, h->cmdline);
		} else if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
			unlink(path); /* its process is gone */
		}
		client_close(c);
		snapshot_free(s);
		free(cause);
		free(path);
	}
	closedir(d);
	free(probe);
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_DEMO = 256, OPT_OUTPUT };
	static const struct option longopts[] = {
		{ "batch", no_argument, NULL, 'b' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "delay", required_argument, NULL, 'd' },
		{ "limit", required_argument, NULL, 'l' },
		{ "pid", required_argument, NULL, 'p' },
		{ "demo", no_argument, NULL, OPT_DEMO },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { .delay = 1, .limit = 10 };
	int ch;
	if (argc > 1 && strcmp(argv[1], "list") == 0)
		return list_agents();
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+bn:d:l:p:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'b': o.batch = 1; break;
		case 'n': o.iterations = parse_long("-n", optarg, 1, LONG_MAX); break;
		case 'd': o.delay = parse_seconds("-d", optarg); break;
		case 'l': o.limit = parse_long("-l", optarg, 1, LONG_MAX); break;
		case 'p': o.pid = (pid_t)parse_long("-p", optarg, 1, INT_MAX); break;
		case OPT_DEMO: o.demo = 1; break;
		case OPT_OUTPUT: o.output = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': puts(PACKAGE_STRING); return 0;
		default:
			if (optopt && optopt < 256)
				die("unknown option '-%c' (see heaptop --help)", optopt);
			die("unknown option '%s' (see heaptop --help)", argv[optind - 1]);
		}
	}
	char **prog = argv + optind;
	char *demo_argv[2] = { NULL, NULL };
	if (o.demo) {
		demo_argv[0] = find_file("HEAPTOP_DEMO", "heaptop-demo",
					 HEAPTOP_PKGLIBEXECDIR "/heaptop-demo");
		prog = demo_argv;
	}
	if (o.pid && *prog)
		die("give either -p PID or a program to run, not both");
	if (!o.pid && !*prog)
		die("no program to run (usage: heaptop [OPTIONS] -- PROGRAM [ARG...])");

	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (o.pid)
		return watch(&o, NULL, o.pid);
	char *agent = find_file("HEAPTOP_AGENT", ".libs/libheaptop.so",
				HEAPTOP_PKGLIBDIR "/libheaptop.so");
	struct launch_options lo = { .agent = agent, .output = o.output };
	char *cause = NULL;
	struct launch *l = launch_start(prog, &lo, &cause);
	if (!l) {
		fprintf(stderr, "heaptop: %s\n", cause);
		return 127;
	}
	int code = watch(&o, l, launch_pid(l));
	launch_free(l);
	free(agent);
	free(demo_argv[0]);
	return code;
}
