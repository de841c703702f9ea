/*
 * heaptop-demo: a small program with heap behaviour worth watching, run by
 * `heaptop --demo`.
 *
 *   heaptop-demo [--seconds N]
 *
 * Three kinds of memory use, each in its own thread, each behind a function
 * with a telling name so that it shows up as its own row in heaptop:
 *
 *   leak_request_log  a steady leak: 4 KiB every 100 ms, never freed
 *   parse_message     churn: many short-lived allocations, nothing kept
 *                     (two threads)
 *   cache_insert      a cache that grows in waves to 8 MiB, then
 *   cache_evict       shrinks back to 1 MiB, over and over
 *
 * Runs until SIGINT or SIGTERM, or for N seconds; then stops its threads,
 * empties the cache and exits 0 (the request log stays leaked, on purpose:
 * it is what the live-at-exit report should show).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))

#define LOG_ENTRY_SIZE 4096
#define CACHE_VALUE_SIZE (16 * 1024)
#define CACHE_HIGH (8u << 20) /* bytes at the top of a wave */
#define CACHE_LOW (1u << 20)  /* bytes at the bottom */

static atomic_int stopping;

/* Sleep MS milliseconds, or less when the program is stopping. */
static void sleep_ms(long ms)
{
	for (; ms > 0 && !atomic_load(&stopping); ms -= 10) {
		struct timespec ts = { 0, (ms < 10 ? ms : 10) * 1000000L };
		nanosleep(&ts, NULL);
	}
}

/* --- the leak: request log entries that nobody ever frees ---------------- */

struct log_entry {
	struct log_entry *next;
	char text[LOG_ENTRY_SIZE - sizeof(struct log_entry *)];
};

static struct log_entry *request_log;

NOINLINE static void leak_request_log(unsigned long n)
{
	struct log_entry *e = malloc(sizeof *e);

	if (e == NULL)
		return;
	snprintf(e->text, sizeof e->text, "GET /item/%lu HTTP/1.1", n);
	e->next = request_log;
	request_log = e;
}

static void *leak_thread(void *arg)
{
	for (unsigned long n = 0; !atomic_load(&stopping); n++) {
		leak_request_log(n);
		sleep_ms(100);
	}
	return arg;
}

/* --- churn: parse messages into tokens, then throw everything away ------- */

NOINLINE static size_t parse_message(const char *msg)
{
	char *copy = strdup(msg);
	char **tokens = calloc(64, sizeof *tokens);
	size_t n = 0;

	if (copy != NULL && tokens != NULL) {
		char *save = NULL;
		for (char *t = strtok_r(copy, " ", &save); t != NULL && n < 64;
		     t = strtok_r(NULL, " ", &save))
			tokens[n++] = strdup(t);
	}
	for (size_t i = 0; i < n; i++)
		free(tokens[i]);
	free(tokens);
	free(copy);
	return n;
}

static void *churn_thread(void *arg)
{
	static const char msg[] = "PUT /cart/42 user=alice qty=3 sku=XJ-9 note=gift";

	while (!atomic_load(&stopping)) {
		for (int i = 0; i < 100; i++)
			parse_message(msg);
		sleep_ms(5);
	}
	return arg;
}

/* --- the cache: grows in waves, then evicts back down -------------------- */

struct cache_entry {
	struct cache_entry *next;
	char *key;
	char *value;
};

static struct cache_entry *cache; /* newest first; touched by one thread */
static size_t cache_bytes;

NOINLINE static void cache_insert(unsigned long id)
{
	struct cache_entry *e = malloc(sizeof *e);
	char key[32];

	if (e == NULL)
		return;
	snprintf(key, sizeof key, "user:%lu", id);
	e->key = strdup(key);
	e->value = malloc(CACHE_VALUE_SIZE);
	if (e->value != NULL)
		memset(e->value, (int)id, CACHE_VALUE_SIZE);
	e->next = cache;
	cache = e;
	cache_bytes += CACHE_VALUE_SIZE;
}

/* Drop entries until the cache holds at most TARGET bytes of values. */
NOINLINE static void cache_evict(size_t target)
{
	while (cache != NULL && cache_bytes > target) {
		struct cache_entry *e = cache;
		cache = e->next;
		free(e->key);
		free(e->value);
		free(e);
		cache_bytes -= CACHE_VALUE_SIZE;
	}
}

static void *cache_thread(void *arg)
{
	unsigned long id = 0;

	while (!atomic_load(&stopping)) {
		/* Grow over about five seconds, then shrink in one go. */
		while (cache_bytes < CACHE_HIGH && !atomic_load(&stopping)) {
			cache_insert(id++);
			sleep_ms(10);
		}
		sleep_ms(1000);
		cache_evict(CACHE_LOW);
		sleep_ms(1000);
	}
	cache_evict(0);
	return arg;
}

/* --- main: start the threads, wait for a signal or the deadline ---------- */

int main(int argc, char **argv)
{
	void *(*const mains[])(void *) = { leak_thread, churn_thread, churn_thread,
					   cache_thread };
	pthread_t threads[sizeof mains / sizeof mains[0]];
	struct timespec tick = { 1, 0 };
	long seconds = -1;
	sigset_t set;

	if (argc == 3 && strcmp(argv[1], "--seconds") == 0) {
		seconds = strtol(argv[2], NULL, 10);
	} else if (argc != 1) {
		fprintf(stderr, "usage: heaptop-demo [--seconds N]\n");
		return 2;
	}
	/* Block the stop signals everywhere; main alone waits for them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (size_t i = 0; i < sizeof mains / sizeof mains[0]; i++) {
		if (pthread_create(&threads[i], NULL, mains[i], NULL) != 0) {
			fprintf(stderr, "heaptop-demo: cannot start a thread\n");
			return 1;
		}
	}
	for (long t = 0; seconds < 0 || t < seconds; t++)
		if (sigtimedwait(&set, NULL, &tick) > 0)
			break;
	atomic_store(&stopping, 1);
	for (size_t i = 0; i < sizeof mains / sizeof mains[0]; i++)
		pthread_join(threads[i], NULL);
	return 0;
}
