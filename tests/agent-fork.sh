#!/bin/bash
# fork: parent and child each get their own socket (named by their own pid)
# and their own live-at-exit file; the child starts with the parent's heap
# as it was at fork time.  Forks taken while another thread allocates must
# not deadlock the children (wl_fork checks that they all exit 0).
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

wl=$HT_WORKLOADS/wl_fork
CC=${CC:-cc} # for the programs and libraries built here

wl_start "$wl" fork
wl_ready
parent=$WL_PID
child=$(echo "$READY_LINE" | kv_field child)
expect_true "child pid is known" test -n "$child"
expect_true "parent and child differ" test "$child" != "$parent"
expect_true "parent socket exists" test -S "$(sock_of "$parent")"
expect_true "child socket exists" test -S "$(sock_of "$child")"

snap_live "$parent" "$HT_TMP/parent.txt"
snap_live "$child" "$HT_TMP/child.txt"
expect_eq "parent snapshot pid" "$(header_field pid "$HT_TMP/parent.txt")" "$parent"
expect_eq "child snapshot pid" "$(header_field pid "$HT_TMP/child.txt")" "$child"
expect_eq "parent: site_parent_alloc" "$(site_live site_parent_alloc "$HT_TMP/parent.txt")" 4000/4
expect_eq "parent: site_parent_after_fork" "$(site_live site_parent_after_fork "$HT_TMP/parent.txt")" 1000/2
expect_eq "parent: site_child_alloc" "$(site_live site_child_alloc "$HT_TMP/parent.txt")" 0/0
expect_eq "child: site_parent_alloc (inherited)" "$(site_live site_parent_alloc "$HT_TMP/child.txt")" 4000/4
expect_eq "child: site_parent_after_fork" "$(site_live site_parent_after_fork "$HT_TMP/child.txt")" 0/0
expect_eq "child: site_child_alloc" "$(site_live site_child_alloc "$HT_TMP/child.txt")" 6000/3
expect_eq "parent: site_quick_child" "$(site_live site_quick_child "$HT_TMP/parent.txt")" 0/0

wl_continue   # the parent lets the child exit and reaps it
wl_ready
expect_true "child socket removed at its exit" test ! -e "$(sock_of "$child")"
snap_final "$child" "$HT_TMP/child-final.txt"
expect_eq "child final: pid" "$(header_field pid "$HT_TMP/child-final.txt")" "$child"
expect_eq "child final: site_parent_alloc" "$(site_live site_parent_alloc "$HT_TMP/child-final.txt")" 4000/4
expect_eq "child final: site_child_alloc" "$(site_live site_child_alloc "$HT_TMP/child-final.txt")" 6000/3
expect_eq "child final: site_parent_after_fork" "$(site_live site_parent_after_fork "$HT_TMP/child-final.txt")" 0/0
snap_live "$parent" "$HT_TMP/parent2.txt"
expect_eq "parent still served after the child exit" \
	"$(site_live site_parent_after_fork "$HT_TMP/parent2.txt")" 1000/2

wl_continue
rc=0
wl_finish || rc=$?
expect_eq "wl_fork exit status" "$rc" 0
expect_true "parent socket removed at exit" test ! -e "$(sock_of "$parent")"
snap_final "$parent" "$HT_TMP/parent-final.txt"
expect_eq "parent final: site_parent_alloc" "$(site_live site_parent_alloc "$HT_TMP/parent-final.txt")" 4000/4
expect_eq "parent final: site_parent_after_fork" "$(site_live site_parent_after_fork "$HT_TMP/parent-final.txt")" 1000/2
expect_eq "parent final: site_child_alloc" "$(site_live site_child_alloc "$HT_TMP/parent-final.txt")" 0/0

# The 20 quick children exited normally: each wrote its own file, and
# their sockets are gone.
nfinal=$(find "$HT_TMP" -name 'final-*.snap' | wc -l)
expect_eq "live-at-exit files (parent, child, 20 quick children)" "$nfinal" 22
nsock=$(find "$HT_TMP" -name '*.sock' | wc -l)
expect_eq "sockets left" "$nsock" 0

# A fork taken while another thread of the agent holds the loader's lock
# (a rule-cache miss inside dl_iterate_phdr): the child's own first miss
# waited for ever.  wl_fork loader makes nearly every allocation of two
# threads miss while main forks 200 children under alarm(2); three runs,
# since each catches the old agent about two times in three.
for i in 1 2 3; do
	rc=0
	run_traced HEAPTOP_FINAL= "$wl" loader >"$HT_TMP/loader$i.txt" || rc=$?
	expect_eq "loader run $i: exit status ($(cat "$HT_TMP/loader$i.txt"))" "$rc" 0
done

# A library's fork handlers, registered by its constructor before the
# agent's, lock its mutex, which another thread holds while it allocates:
# the agent's handlers must take its locks after them (the first version
# deadlocked every run, ended by wl_atfork's alarm).
rc=0
run_traced HEAPTOP_FINAL= "$HT_WORKLOADS/wl_atfork" >"$HT_TMP/atfork.txt" || rc=$?
expect_eq "wl_atfork: 200 forks, a thread allocating under the library's mutex" \
	"$rc $(cat "$HT_TMP/atfork.txt")" "0 forks=200"

# Allocations made while a fork is in progress.  The agent's fork handlers
# hold its locks from its prepare handler to its parent and child
# handlers; a hook must not wait for them, as the fork may wait for a lock
# the allocating thread holds.  Each of these hung every run before the
# fork log (the watchdog or alarm ends a hung run).
#
# A handler registered through glibc's own pthread_atfork (as tcmalloc
# does: the agent cannot put its own after it) waits inside the fork
# while another thread allocates, frees, moves blocks with realloc and
# fails a realloc: every call goes through the fork log, and the numbers
# are exact in the parent and the child.
rc=0
run_traced "$HT_WORKLOADS/wl_atfork" window >"$HT_TMP/window.txt" || rc=$?
expect_eq "wl_atfork window: exit status" "$rc" 0
wparent=$RUN_PID
wchild=$(kv_field child <"$HT_TMP/window.txt")
for who in parent child; do
	pid=$wparent
	[ "$who" = parent ] || pid=$wchild
	snap_final "$pid" "$HT_TMP/window-$who.txt"
	expect_eq "window, $who: site_before_window (2 of 5 freed in the fork)" \
		"$(site_live site_before_window "$HT_TMP/window-$who.txt")" 1500/3
	expect_eq "window, $who: site_in_window (made in the fork)" \
		"$(site_live site_in_window "$HT_TMP/window-$who.txt")" 10000/6
	expect_eq "window, $who: site_deep_window (20 000 blocks, one stack new in the fork)" \
		"$(site_live site_deep_window "$HT_TMP/window-$who.txt")" 640000/20000
	expect_eq "window, $who: untracked blocks" \
		"$(globals_field untracked_blocks "$HT_TMP/window-$who.txt")" 0
done

# A thread in getline (which allocates holding its stream's lock), one in
# fflush(NULL) (holding the stream list lock, which fork takes after the
# handlers, while it waits for that stream's), one registering fork
# handlers, and two churning threads with a ring of blocks each, while
# main forks 200 times: exact at the end; sampled, it ends too.  (A fixed
# HEAPTOP_FINAL: the children write none.)
rc=0
run_traced HEAPTOP_FINAL="$HT_TMP/gate.snap" "$wl" gate >"$HT_TMP/gate.txt" || rc=$?
expect_eq "wl_fork gate: exit status, forks" "$rc $(cat "$HT_TMP/gate.txt")" "0 forks=200"
snap "$HT_TMP/gate-final.txt" --file "$HT_TMP/gate.snap" --by-site
expect_eq "gate: site_gate_ring" "$(site_live site_gate_ring "$HT_TMP/gate-final.txt")" 12800/128
expect_eq "gate: site_gate_churn" "$(site_live site_gate_churn "$HT_TMP/gate-final.txt")" 0/0
expect_eq "gate: untracked blocks" "$(globals_field untracked_blocks "$HT_TMP/gate-final.txt")" 0
rc=0
run_traced HEAPTOP_FINAL= HEAPTOP_SAMPLE=65536 "$wl" gate >"$HT_TMP/gate-sampled.txt" || rc=$?
expect_eq "wl_fork gate, sampled: exit status, forks" \
	"$rc $(cat "$HT_TMP/gate-sampled.txt")" "0 forks=200"

# Blocks on stacks new during a fork, some freed as soon as made, all
# freed at the end: nothing left, exact and sampled.  (A block logged
# because the stack table's lock was taken, while its shard of the map
# was not yet, and then freed through the map, stayed live: 500 B to
# 720 KB left in every run.)
for sample in 0 4096; do
	rc=0
	run_traced HEAPTOP_FINAL="$HT_TMP/mix$sample.snap" HEAPTOP_SAMPLE=$sample "$wl" mix \
		>"$HT_TMP/mix$sample.txt" || rc=$?
	expect_eq "wl_fork mix (sample $sample): exit status, forks" \
		"$rc $(cat "$HT_TMP/mix$sample.txt")" "0 forks=300"
	snap "$HT_TMP/mix$sample-final.txt" --file "$HT_TMP/mix$sample.snap" --by-site
	expect_eq "mix (sample $sample): site_mix_leaf" \
		"$(site_live site_mix_leaf "$HT_TMP/mix$sample-final.txt")" 0/0
done

# fork from a signal handler, which mostly interrupts the agent's own
# hooks holding one of its locks: the prepare handler must not wait for
# it (the interrupted code goes on when the handler returns); and while
# another thread forks without pause, whose handlers may wait for that
# lock: such a child goes untraced.
rc=0
run_traced HEAPTOP_FINAL="$HT_TMP/signal.snap" "$wl" signal >"$HT_TMP/signal.txt" || rc=$?
expect_eq "wl_fork signal: exit status" "$rc" 0
expect_ge "wl_fork signal: forks from the handler" "$(kv_field forks <"$HT_TMP/signal.txt")" 300
snap "$HT_TMP/signal-final.txt" --file "$HT_TMP/signal.snap" --by-site
expect_eq "signal: site_signal_ring" "$(site_live site_signal_ring "$HT_TMP/signal-final.txt")" 6400/64

# A fork that waits, inside, for another thread's fork (as when a signal
# handler forks while the code it interrupted holds a lock the first fork
# needs): the second must not wait in the agent for the first for ever.
# It gives up after a second, and its child runs untraced.  (A prepare
# handler registered through glibc's own pthread_atfork, so after the
# agent's, does the waiting.)
if command -v "$CC" >/dev/null; then
	# The library: its constructor runs before the preloaded agent's.
	cat >"$HT_TMP/inside.c" <<'EOF_C'
#include <stddef.h>
extern int libc_pthread_atfork(void (*)(void), void (*)(void), void (*)(void));
__asm__(".symver libc_pthread_atfork, pthread_atfork@GLIBC_2.2.5");
static void (*inside)(void);
void inside_set(void (*fn)(void))
{
	__atomic_store_n(&inside, fn, __ATOMIC_RELEASE);
}
static void prepare(void)
{
	void (*fn)(void) = __atomic_load_n(&inside, __ATOMIC_ACQUIRE);
	if (fn)
		fn();
}
__attribute__((constructor)) static void registers(void)
{
	libc_pthread_atfork(prepare, NULL, NULL);
}
EOF_C
	cat >"$HT_TMP/concurrent.c" <<'EOF_C'
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
void inside_set(void (*fn)(void));
static pthread_t first;
static atomic_int go, done;
static void wait_for_second(void)
{
	if (!pthread_equal(pthread_self(), first))
		return;
	atomic_store(&go, 1);
	while (!atomic_load(&done))
		sched_yield();
}
static void *second(void *arg)
{
	while (!atomic_load(&go))
		sched_yield();
	pid_t c = fork();
	if (c == 0)
		_exit(0);
	waitpid(c, NULL, 0);
	atomic_store(&done, 1);
	return arg;
}
int main(void)
{
	alarm(20);
	first = pthread_self();
	pthread_t t;
	pthread_create(&t, NULL, second, NULL);
	inside_set(wait_for_second);
	pid_t c = fork();
	if (c == 0)
		_exit(0);
	waitpid(c, NULL, 0);
	pthread_join(t, NULL);
	puts("forks=2");
	return 0;
}
EOF_C
	"$CC" -shared -fPIC -o "$HT_TMP/libinside.so" "$HT_TMP/inside.c"
	"$CC" -o "$HT_TMP/concurrent" "$HT_TMP/concurrent.c" -L"$HT_TMP" -linside \
		-Wl,-rpath,"$HT_TMP" -lpthread
	rc=0
	out=$("$HT_TMP/concurrent" 2>&1) || rc=$?
	expect_eq "a fork waiting inside for another's, untraced" "$rc $out" "0 forks=2"
	rc=0
	out=$(HEAPTOP_SOCKET="$HT_TMP/%p.sock" LD_PRELOAD="$HEAPTOP_AGENT" "$HT_TMP/concurrent" 2>&1) ||
		rc=$?
	expect_eq "a fork waiting inside for another's, traced" "$rc $out" "0 forks=2"
fi

# The allocator's own fork handlers (jemalloc registers them at its first
# malloc) keep their place before the agent's: in the child its handler
# releases its locks before the agent's starts a thread, which allocates
# when the thread's TLS array must grow (24 libraries with TLS loaded).
# With the agent's first, that child hung for ever (signals blocked).
jemalloc=$(shared_lib libjemalloc.so.2)
if [ -n "$jemalloc" ] && command -v "$CC" >/dev/null; then
	mkdir -p "$HT_TMP/tls"
	echo '__thread char tls_block[4096]; char *tls_get(void) { return tls_block; }' >"$HT_TMP/tls/t.c"
	for i in $(seq 1 24); do
		"$CC" -shared -fPIC -o "$HT_TMP/tls/libt$i.so" "$HT_TMP/tls/t.c"
	done
	cat >"$HT_TMP/tlsfork.c" <<'EOF_C'
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
static void on_alarm(int sig)
{
	(void)sig; /* only to interrupt waitpid */
}
int main(int argc, char **argv)
{
	for (int i = 1; i <= 24; i++) {
		char p[4096];
		snprintf(p, sizeof p, "%s/libt%d.so", argv[1], i);
		if (!dlopen(p, RTLD_NOW))
			return 2;
	}
	pid_t c = fork();
	if (c == 0)
		_exit(0);
	int status;
	struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	alarm(10);
	if (waitpid(c, &status, 0) != c) {
		kill(c, SIGKILL); /* its signals may be blocked */
		waitpid(c, &status, 0);
		puts("child hung");
		return 1;
	}
	printf("child status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}
EOF_C
	"$CC" -o "$HT_TMP/tlsfork" "$HT_TMP/tlsfork.c" -ldl
	rc=0
	out=$(HEAPTOP_SOCKET="$HT_TMP/%p.sock" LD_PRELOAD="$HEAPTOP_AGENT $jemalloc" \
		"$HT_TMP/tlsfork" "$HT_TMP/tls" 2>&1) || rc=$?
	expect_eq "jemalloc, 24 TLS libraries, fork: the child's exit" "$rc $out" "0 child status 0"
else
	echo "== skipped: no libjemalloc.so.2 or no C compiler for the TLS libraries"
fi

# A library whose constructor registers fork handlers (so the agent's are
# registered first) and forks, before the agent's constructor ran: the
# child starts the agent once (one server thread, one socket), where it
# had two server threads and left a socket behind.
if command -v "$CC" >/dev/null; then
	cat >"$HT_TMP/ctorfork.c" <<'EOF_C'
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static int in_child;
static int count(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.' && (!prefix || strncmp(e->d_name, prefix, strlen(prefix)) == 0);
	if (d)
		closedir(d);
	return n;
}
/* Called from main: in the child, what the agent started there. */
int ctorfork_report(void)
{
	if (!in_child)
		return 0;
	usleep(200000); /* its server thread is up */
	char prefix[32];
	snprintf(prefix, sizeof prefix, "%d.sock", (int)getpid());
	printf("child threads %d sockets %d\n", count("/proc/self/task", NULL),
	       count(getenv("SOCKDIR"), prefix));
	return 0;
}
static void nothing(void)
{
}
__attribute__((constructor)) static void forks_early(void)
{
	pthread_atfork(nothing, nothing, nothing); /* the agent's come first */
	pid_t c = fork();
	if (c == 0)
		in_child = 1;
	else
		waitpid(c, NULL, 0);
}
EOF_C
	"$CC" -shared -fPIC -o "$HT_TMP/libctorfork.so" "$HT_TMP/ctorfork.c" -lpthread
	echo 'int ctorfork_report(void); int main(void) { return ctorfork_report(); }' \
		>"$HT_TMP/ctormain.c"
	"$CC" -o "$HT_TMP/ctormain" "$HT_TMP/ctormain.c" -L"$HT_TMP" -lctorfork -Wl,-rpath,"$HT_TMP"
	mkdir -p "$HT_TMP/ctorsock"
	out=$(SOCKDIR="$HT_TMP/ctorsock" HEAPTOP_SOCKET="$HT_TMP/ctorsock/%p.sock" \
		LD_PRELOAD="$HEAPTOP_AGENT" "$HT_TMP/ctormain" 2>&1)
	expect_eq "fork in a library constructor: the child's agent" "$out" "child threads 2 sockets 1"
	expect_eq "no socket left" "$(ls "$HT_TMP/ctorsock" | wc -l)" 0
fi
