/* One traced process: launched or attached, fetched, and its end. */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "viewer/client.h"
#include "viewer/launch.h"
#include "viewer/session.h"
#include "viewer/snapshot.h"
#include "viewer/symbolizer.h"

#ifndef HEAPTOP_PKGLIBDIR
#define HEAPTOP_PKGLIBDIR "/usr/local/lib/heaptop"
#endif
#ifndef HEAPTOP_PKGLIBEXECDIR
#define HEAPTOP_PKGLIBEXECDIR "/usr/local/libexec/heaptop"
#endif

#define CONNECT_TIMEOUT_MS 10000
#define FETCH_TIMEOUT_MS 10000

/* What one agent (one program image of the process) was seen through:
 * its snapshot, the frames symbolized from it, the symbolizer that knows
 * its modules.  A process that runs exec gets a new agent, whose stack ids
 * and modules start afresh; the old view is kept for the heaps still
 * made from it. */
struct view_of_agent {
	struct snapshot *snap;
	struct heap_shared *frames; /* stacks of snap, symbolized once for all heaps */
	struct symbolizer *sym;
	uint32_t declared_gen; /* module generation the symbolizer knows */
};

struct session {
	struct launch *launch; /* NULL when attached with -p */
	pid_t pid;
	char *socket;
	struct client *client;
	char *unreached;       /* why the agent could not be reached, if so */
	int peer_closed;       /* the last fetch failed as the agent's end went */
	int agentless;         /* the program ran on without the agent */
	int reconnects;        /* reconnections since the last fetch that worked */
	unsigned long long start_time; /* -p: the process's, from /proc (0: unknown) */
	struct view_of_agent now;
	struct view_of_agent *old; /* earlier agents' views, for their heaps */
	size_t nold;
	struct snapshot *final_snap;
	struct symbolizer *final_sym; /* when the final snapshot is another image's */
	const sigset_t *mask;           /* client_set_interrupt's, for every client */
	volatile sig_atomic_t *stop;
	int status;
	int exit_code;
};

static void interruptible(struct session *ss)
{
	if (ss->client)
		client_set_interrupt(ss->client, ss->mask, ss->stop);
}

void session_set_interrupt(struct session *ss, const sigset_t *mask, volatile sig_atomic_t *stop)
{
	ss->mask = mask;
	ss->stop = stop;
	interruptible(ss);
}

static void view_init(struct view_of_agent *v)
{
	v->snap = snapshot_new();
	v->sym = symbolizer_new();
	v->frames = heap_shared_new(v->snap, v->sym);
	v->declared_gen = 0;
}

static void view_free(struct view_of_agent *v)
{
	heap_shared_unref(v->frames);
	snapshot_free(v->snap);
	symbolizer_free(v->sym);
}

/* A file of heaptop's: from ENV, else beside the running binary (the build
 * tree), else where `make install` put it. */
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
		*slash = '\0';
		char *p = xasprintf("%s/%s", self, beside);
		if (access(p, R_OK) == 0)
			return p;
		free(p);
	}
	return xstrdup(installed);
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000 }, NULL);
}

/* Connect, retrying while a launched program starts up. */
/* Whether process PID's environment still preloads the agent (1), does
 * not (0), or cannot be read (-1). */
static int environ_preloads_agent(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/environ", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	/* NUL-separated NAME=VALUE entries; only LD_PRELOAD's is looked at. */
	char entry[4096];
	size_t n = 0;
	int c, found = 0, read_any = 0;
	while ((c = getc(f)) != EOF && !found) {
		read_any = 1;
		if (c != '\0') {
			if (n < sizeof entry - 1)
				entry[n++] = (char)c;
			continue;
		}
		entry[n] = '\0';
		n = 0;
		if (strncmp(entry, "LD_PRELOAD=", 11) == 0 && strstr(entry, "libheaptop.so"))
			found = 1;
	}
	fclose(f);
	return found ? 1 : read_any ? 0 : -1;
}

/* Whether process PID ran exec without the agent: it is there, with
 * mappings, none of them libheaptop.so, and its environment no longer
 * preloads it (with it still there, the loader may be about to map it,
 * or the program cannot take it: static, set-uid). */
static int process_agentless(pid_t pid)
{
	char path[64], line[4096];
	snprintf(path, sizeof path, "/proc/%ld/maps", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	int lines = 0, agent = 0;
	while (!agent && fgets(line, sizeof line, f)) {
		lines++;
		agent = strstr(line, "/libheaptop.so") != NULL;
	}
	fclose(f);
	return lines > 0 && !agent && environ_preloads_agent(pid) == 0;
}

/* After a try to connect: a socket that an agent made but nobody listens
 * on, in a process that still runs and has no agent mapped, means that
 * it ran exec without the agent (not a program just starting, which has
 * no socket yet, nor one exiting, whose agent is still mapped).  Kept
 * until an agent answers again. */
static void note_agentless(struct session *ss)
{
	if (ss->client)
		ss->agentless = 0;
	else if (access(ss->socket, F_OK) == 0 && process_agentless(ss->pid))
		ss->agentless = 1;
}

static int connect_agent(struct session *ss, char **cause)
{
	int status;
	for (long waited = 0;; waited += 10) {
		free(*cause);
		*cause = NULL;
		ss->client = client_connect(ss->socket, cause);
		note_agentless(ss);
		if (ss->client)
			return 0;
		if (!ss->launch || waited >= CONNECT_TIMEOUT_MS || launch_poll(ss->launch, &status))
			return -1;
		sleep_ms(10);
	}
}

static char **agent_env(const struct settings *s, char *buf[4])
{
	int n = 0;
	if (s->depth)
		buf[n++] = xasprintf("HEAPTOP_DEPTH=%u", s->depth);
	if (s->sample)
		buf[n++] = xasprintf("HEAPTOP_SAMPLE=%llu", (unsigned long long)s->sample);
	if (s->unwind)
		buf[n++] = xasprintf("HEAPTOP_UNWIND=%s", s->unwind);
	buf[n] = NULL;
	return buf;
}

static struct launch *start(const struct settings *s, char **cause)
{
	char *demo[2] = { NULL, NULL };
	char *const *argv = s->program;
	if (s->mode == MODE_DEMO) {
		demo[0] = find_file("HEAPTOP_DEMO", "heaptop-demo",
				    HEAPTOP_PKGLIBEXECDIR "/heaptop-demo");
		argv = demo;
	}
	char *agent = find_file("HEAPTOP_AGENT", ".libs/libheaptop.so",
				HEAPTOP_PKGLIBDIR "/libheaptop.so");
	char *env[4];
	struct launch_options lo = {
		.agent = agent,
		.output = s->output,
		.stdout_to_stderr = s->batch && !s->output,
		/* The live view reads the keys from the terminal: the program
		 * must not take them. */
		.stdin_null = !s->batch,
		.env = (const char *const *)agent_env(s, env),
	};
	struct launch *l = launch_start(argv, &lo, cause);
	for (char **e = env; *e; e++)
		free(*e);
	free(agent);
	free(demo[0]);
	return l;
}

/* When process PID started (field 22 of /proc/PID/stat, clock ticks since
 * boot); 0 when it is gone or unreadable.  A pid used again by another
 * process has another start. */
static unsigned long long process_start(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After the command, in parentheses, which may hold anything. */
	char *p = strrchr(buf, ')');
	unsigned long long start = 0;
	if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
			"%*d %*d %*d %*d %llu", &start) == 1)
		return start;
	return 0;
}

struct session *session_open(const struct settings *s, char **cause, int *exit_code)
{
	struct session *ss = xcalloc(1, sizeof *ss);
	if (s->mode == MODE_PID) {
		ss->pid = s->pid;
		ss->start_time = process_start(ss->pid);
	} else {
		if (client_prepare_socket_dir(cause) < 0) {
			*exit_code = 1;
			free(ss);
			return NULL;
		}
		ss->launch = start(s, cause);
		if (!ss->launch) {
			*exit_code = 127;
			free(ss);
			return NULL;
		}
		ss->pid = launch_pid(ss->launch);
	}
	ss->socket = client_default_socket_path(ss->pid);
	view_init(&ss->now);
	if (connect_agent(ss, cause) < 0 && !ss->launch) {
		char *c = *cause;
		*cause = xasprintf("%s; is process %d running with the agent? Start one "
				   "with: heaptop -- PROGRAM", c, (int)s->pid);
		free(c);
		*exit_code = 1;
		session_close(ss);
		return NULL;
	}
	/* A launched program that exited before it could be reached still has
	 * its live-at-exit snapshot; one that runs on without an agent to
	 * reach is told by the first fetch. */
	ss->unreached = *cause;
	*cause = NULL;
	return ss;
}

/* Reconnections in a row, each followed by a failed fetch, before heaptop
 * stops trying: an agent that takes connections but cannot answer (bad
 * data, say) is not reached by trying again. */
#define MAX_RECONNECTS 3

int session_reconnect(struct session *ss, char **cause)
{
	int status;
	/* Only an agent whose end went away can come back, as after an exec;
	 * a timeout (a stopped process) or bad data would only repeat. */
	if (!ss->peer_closed && !ss->unreached) {
		*cause = xstrdup("the agent did not answer");
		return -2;
	}
	if (ss->reconnects >= MAX_RECONNECTS) {
		*cause = xstrdup("the agent takes connections but gives no snapshot");
		return -2;
	}
	if (ss->launch ? launch_poll(ss->launch, &status)
		       : process_start(ss->pid) != ss->start_time || !ss->start_time) {
		*cause = xasprintf("process %d has ended", (int)ss->pid);
		return -2;
	}
	client_close(ss->client);
	ss->client = client_connect(ss->socket, cause);
	note_agentless(ss);
	if (!ss->client)
		return -1;
	interruptible(ss);
	ss->reconnects++;
	free(ss->unreached);
	ss->unreached = NULL;
	/* Most likely a new agent, after an exec: start from nothing.  Heaps
	 * made so far point into a complete snapshot's view, which is kept;
	 * an incomplete one has none. */
	if (snapshot_completed(ss->now.snap)) {
		ss->old = xrealloc(ss->old, (ss->nold + 1) * sizeof *ss->old);
		ss->old[ss->nold++] = ss->now;
	} else {
		view_free(&ss->now);
	}
	view_init(&ss->now);
	return 0;
}

static void declare_modules(struct view_of_agent *v)
{
	if (snapshot_module_generation(v->snap) == v->declared_gen)
		return;
	heap_declare_modules(v->sym, v->snap);
	v->declared_gen = snapshot_module_generation(v->snap);
}

int session_fetch(struct session *ss, char **cause)
{
	return session_fetch_flags(ss, 0, cause);
}

int session_fetch_flags(struct session *ss, uint32_t flags, char **cause)
{
	if (!ss->client) {
		*cause = xstrdup(ss->unreached ? ss->unreached : "not connected to the agent");
		return -1;
	}
	if (client_fetch(ss->client, ss->now.snap, flags, FETCH_TIMEOUT_MS, cause) < 0) {
		ss->peer_closed = client_peer_closed(ss->client);
		client_close(ss->client);
		ss->client = NULL;
		return -1;
	}
	ss->peer_closed = 0;
	ss->reconnects = 0;
	declare_modules(&ss->now);
	return 0;
}

struct heap *session_heap(struct session *ss)
{
	if (!snapshot_completed(ss->now.snap))
		return NULL;
	return heap_from_shared(ss->now.frames);
}

int session_ended(struct session *ss, int *status)
{
	return ss->launch && launch_poll(ss->launch, status);
}

int session_fd(const struct session *ss)
{
	return ss->client ? client_fd(ss->client) : -1;
}

void session_hung_up(struct session *ss)
{
	ss->peer_closed = 1;
}

int session_launched(const struct session *ss)
{
	return ss->launch != NULL;
}

int session_finish(struct session *ss, int stop)
{
	if (!ss->launch)
		return 0;
	int status;
	if (!stop || launch_poll(ss->launch, &status))
		return launch_exit_code(launch_wait(ss->launch));
	/* Ending the program was heaptop's decision (-n, q), not its failure;
	 * a status it chooses on its way out still counts. */
	status = launch_terminate(ss->launch, 3000);
	if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGKILL))
		return 0;
	return launch_exit_code(status);
}

/* Whether snapshot A and the completed snapshot B (if any) come from the
 * same agent: one process image, one start. */
static int same_agent(const struct snapshot *a, const struct snapshot *b)
{
	if (!snapshot_completed(b))
		return 1; /* nothing symbolized yet: any agent will do */
	const struct snapshot_hello *ha = snapshot_hello(a), *hb = snapshot_hello(b);
	return ha->pid == hb->pid && ha->start_ns == hb->start_ns;
}

static struct symbolizer *session_final_symbolizer(struct session *ss)
{
	return ss->final_sym ? ss->final_sym : ss->now.sym;
}

struct heap *session_final(struct session *ss, char **cause)
{
	if (!ss->launch) {
		*cause = xstrdup("the program was not launched by heaptop");
		return NULL;
	}
	if (!ss->final_snap) {
		const char *path = launch_final_path(ss->launch);
		ss->final_snap = snapshot_load_file(path, cause);
		if (!ss->final_snap) {
			if (access(path, F_OK) < 0 && errno == ENOENT) {
				free(*cause);
				*cause = xstrdup(
					ss->agentless
						? "the program wrote none: it ran on without the "
						  "agent, as after an exec that drops LD_PRELOAD; "
						  "env LD_PRELOAD=... replaces heaptop's, set it "
						  "before heaptop instead"
						: "the program wrote none: it ended without exit, "
						  "quick_exit or _exit (as daemon(3) does), or could "
						  "not create the file");
			}
			return NULL;
		}
		/* Written by the agent the live tables came from, or by the one
		 * of a program image exec'd since, whose modules are its own. */
		if (!same_agent(ss->final_snap, ss->now.snap))
			ss->final_sym = symbolizer_new();
		heap_declare_modules(session_final_symbolizer(ss), ss->final_snap);
	}
	/* The live-at-exit file lists every stack again: keep the frames
	 * symbolized for the live tables (for cppcheck, 112 000 stacks: 0.5 s
	 * and 90 MB less after the program has ended). */
	if (!ss->final_sym && snapshot_completed(ss->now.snap) &&
	    heap_shared_extend(ss->now.frames, ss->final_snap) == 0)
		return heap_from_shared(ss->now.frames);
	return heap_from_snapshot(ss->final_snap, session_final_symbolizer(ss));
}

struct symbolizer *session_symbolizer(struct session *ss)
{
	return ss->now.sym;
}

void session_close(struct session *ss)
{
	if (!ss)
		return;
	client_close(ss->client);
	launch_free(ss->launch);
	view_free(&ss->now);
	for (size_t i = 0; i < ss->nold; i++)
		view_free(&ss->old[i]);
	free(ss->old);
	snapshot_free(ss->final_snap);
	symbolizer_free(ss->final_sym);
	free(ss->unreached);
	free(ss->socket);
	free(ss);
}
