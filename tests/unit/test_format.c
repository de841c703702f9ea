/* Unit tests for the batch printers (format.c) and the source line cache. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "proto/proto.h"
#include "viewer/format.h"
#include "viewer/heap.h"
#include "viewer/linecache.h"
#include "viewer/model.h"

/* 2026-11-21 14:00:03 UTC */
#define TEST_TIME_NS 1795269603000000000ull

static char tmpdir[] = "/tmp/ht-format-XXXXXX";

/* ---- files ------------------------------------------------------------- */

/* DIR/REL (directories made as needed) with LEN bytes of DATA; returns
 * the path, to free. */
static char *write_file(const char *rel, const char *data, size_t len)
{
	char *path = xasprintf("%s/%s", tmpdir, rel);
	for (char *p = path + strlen(tmpdir) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		ck_assert(mkdir(path, 0700) == 0 || errno == EEXIST);
		*p = '/';
	}
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static char *write_text(const char *rel, const char *text)
{
	return write_file(rel, text, strlen(text));
}

static const char cache_c[] =
	"#include <stdlib.h>\n"
	"\n"
	"void *cache_grow(size_t n)\n"
	"{\n"
	"\treturn malloc(n);   \n"
	"}\n"
	"char *dup(const char *s) { return strdup(s); }\n";

static const char main_c[] =
	"/* 1 */\n/* 2 */\n/* 3 */\n/* 4 */\n/* 5 */\n/* 6 */\n/* 7 */\n/* 8 */\n"
	"int main(void)\n"
	"{\tcache_grow(4096);\n"
	"\tdup(\"x\");\n"
	"\tparse();\r\n"
	"\tfoo();\n"
	"}";

/* ---- capture ----------------------------------------------------------- */

static char *print_to_string(int fmt, const struct format_table *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	format_print(fmt, f, t);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

static void expect_print(int fmt, const struct format_table *t, const char *want)
{
	char *got = print_to_string(fmt, t);
	ck_assert_str_eq(got, want);
	free(got);
}

static char *json_of(const char *s, size_t len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	ck_assert_ptr_nonnull(f);
	format_json_string(f, s, len);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

/* ---- _format_size ------------------------------------------------------ */

/* tracemalloc._format_size(size, False) and (size, True), from Python
 * 3.11.2 (/usr/bin/python3 -c 'import tracemalloc; print(...)'). */
static const struct {
	double size;
	const char *plain, *sign;
} python_sizes[] = {
	{ 0, "0 B", "+0 B" },
	{ 1, "1 B", "+1 B" },
	{ 99, "99 B", "+99 B" },
	{ 100, "100 B", "+100 B" },
	{ 101, "101 B", "+101 B" },
	{ 1023, "1023 B", "+1023 B" },
	{ 1024, "1024 B", "+1024 B" },
	{ 9999, "9999 B", "+9999 B" },
	{ 10239, "10239 B", "+10239 B" },
	{ 10240, "10.0 KiB", "+10.0 KiB" },
	{ 10241, "10.0 KiB", "+10.0 KiB" },
	{ 10752, "10.5 KiB", "+10.5 KiB" },
	{ 102399, "100.0 KiB", "+100.0 KiB" },
	{ 102400, "100 KiB", "+100 KiB" },
	{ 102401, "100 KiB", "+100 KiB" },
	{ 1048575, "1024 KiB", "+1024 KiB" },
	{ 1048576, "1024 KiB", "+1024 KiB" },
	{ 10485759, "10240 KiB", "+10240 KiB" },
	{ 10485760, "10.0 MiB", "+10.0 MiB" },
	{ 104857599, "100.0 MiB", "+100.0 MiB" },
	{ 104857600, "100 MiB", "+100 MiB" },
	{ 5368709120.0, "5120 MiB", "+5120 MiB" },
	{ 107374182400.0, "100 GiB", "+100 GiB" },
	{ 1099511627776.0, "1024 GiB", "+1024 GiB" },
	{ 108851651149824.0, "99.0 TiB", "+99.0 TiB" },
	{ 109951162777600.0, "100 TiB", "+100 TiB" },
	{ 13573471044894720.0, "12345 TiB", "+12345 TiB" },
	{ 4611686018427387904.0, "4194304 TiB", "+4194304 TiB" },
	{ 9223372036854775807.0, "8388608 TiB", "+8388608 TiB" },
	{ -1, "-1 B", "-1 B" },
	{ -99, "-99 B", "-99 B" },
	{ -100, "-100 B", "-100 B" },
	{ -10240, "-10.0 KiB", "-10.0 KiB" },
	{ -10241, "-10.0 KiB", "-10.0 KiB" },
	{ -123456789, "-118 MiB", "-118 MiB" },
	{ 51.5, "52 B", "+52 B" },
	{ 0.5, "0 B", "+0 B" },
	{ 1.5, "2 B", "+2 B" },
	{ 2.5, "2 B", "+2 B" },
	{ 4096.0 / 3, "1365 B", "+1365 B" },
	{ 10239.5, "10240 B", "+10240 B" },
	{ 102348.8, "100.0 KiB", "+100.0 KiB" },
};

START_TEST(test_format_size_python)
{
	char buf[64];
	for (size_t i = 0; i < sizeof python_sizes / sizeof python_sizes[0]; i++) {
		ck_assert_str_eq(format_size(buf, sizeof buf, python_sizes[i].size, 0),
				 python_sizes[i].plain);
		ck_assert_str_eq(format_size(buf, sizeof buf, python_sizes[i].size, 1),
				 python_sizes[i].sign);
	}
}
END_TEST

START_TEST(test_format_parse)
{
	ck_assert_int_eq(format_parse("pretty"), FORMAT_PRETTY);
	ck_assert_int_eq(format_parse("stats"), FORMAT_STATS);
	ck_assert_int_eq(format_parse("json"), FORMAT_JSON);
	ck_assert_int_eq(format_parse("JSON"), -1);
	ck_assert_int_eq(format_parse(""), -1);
	ck_assert_str_eq(format_name(FORMAT_JSON), "json");
	ck_assert_ptr_null(format_name(3));
	ck_assert_ptr_null(format_name(-1));
}
END_TEST

/* ---- JSON strings ------------------------------------------------------ */

static const struct {
	const char *in;
	size_t len;
	const char *out;
} json_cases[] = {
	{ "plain", 5, "\"plain\"" },
	{ "", 0, "\"\"" },
	{ "q\"b\\s/", 6, "\"q\\\"b\\\\s/\"" },
	{ "\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"" },
	{ "\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"" },
	{ "a\0b", 3, "\"a\\u0000b\"" },
	{ "\xc3\xa9t\xc3\xa9", 5, "\"\xc3\xa9t\xc3\xa9\"" },           /* été */
	{ "\xe2\x82\xac", 3, "\"\xe2\x82\xac\"" },                     /* € */
	{ "\xf0\x9d\x84\x9e", 4, "\"\xf0\x9d\x84\x9e\"" },             /* 𝄞 */
	{ "\xef\xbf\xbf", 3, "\"\xef\xbf\xbf\"" },                     /* U+FFFF */
	{ "\xf4\x8f\xbf\xbf", 4, "\"\xf4\x8f\xbf\xbf\"" },             /* U+10FFFF */
	{ "\x80", 1, "\"\\ufffd\"" },                                  /* lone continuation */
	{ "\xff", 1, "\"\\ufffd\"" },
	{ "\xc0\xaf", 2, "\"\\ufffd\\ufffd\"" },                       /* overlong '/' */
	{ "\xe0\x80\xaf", 3, "\"\\ufffd\\ufffd\\ufffd\"" },            /* overlong */
	{ "\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"" },            /* surrogate */
	{ "\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" }, /* > U+10FFFF */
	{ "\xe2\x82", 2, "\"\\ufffd\"" },                              /* cut at the end */
	{ "\xe2\x82" "A", 3, "\"\\ufffdA\"" },                         /* cut short */
	{ "\xf0\x9d\x84" "\xc3\xa9", 5, "\"\\ufffd\xc3\xa9\"" },
	{ "\xc3", 1, "\"\\ufffd\"" },
};

START_TEST(test_json_string)
{
	for (size_t i = 0; i < sizeof json_cases / sizeof json_cases[0]; i++) {
		char *got = json_of(json_cases[i].in, json_cases[i].len);
		ck_assert_msg(strcmp(got, json_cases[i].out) == 0, "case %zu: got %s want %s",
			      i, got, json_cases[i].out);
		free(got);
	}
}
END_TEST

/* ---- linecache --------------------------------------------------------- */

START_TEST(test_linecache_lines)
{
	char *path = write_text("lc/lines.c", cache_c);
	struct linecache *lc = linecache_new();
	ck_assert_str_eq(linecache_line(lc, path, 1), "#include <stdlib.h>");
	ck_assert_str_eq(linecache_line(lc, path, 2), "");
	ck_assert_str_eq(linecache_line(lc, path, 5), "\treturn malloc(n);   ");
	/* Asked out of order: indexed lines stay right. */
	ck_assert_str_eq(linecache_line(lc, path, 3), "void *cache_grow(size_t n)");
	ck_assert_str_eq(linecache_line(lc, path, 7),
			 "char *dup(const char *s) { return strdup(s); }");
	ck_assert_ptr_null(linecache_line(lc, path, 8)); /* the final newline ends line 7 */
	ck_assert_ptr_null(linecache_line(lc, path, 1000000));
	ck_assert_ptr_null(linecache_line(lc, path, 0));
	ck_assert_ptr_null(linecache_line(lc, NULL, 1));
	/* The same pointer each time: read once, kept. */
	const char *a = linecache_line(lc, path, 4);
	ck_assert_ptr_eq(linecache_line(lc, path, 4), a);
	linecache_free(lc);
	free(path);
}
END_TEST

START_TEST(test_linecache_endings)
{
	char *crlf = write_text("lc/crlf.c", "one\r\ntwo\r\n\r\nlast\r");
	char *nofinal = write_text("lc/nofinal.c", "a\nb");
	char *empty = write_text("lc/empty.c", "");
	char *blank = write_text("lc/blank.c", "\n");
	char *cr = write_text("lc/cr.c", "x\ry\n");
	struct linecache *lc = linecache_new();
	ck_assert_str_eq(linecache_line(lc, crlf, 1), "one");
	ck_assert_str_eq(linecache_line(lc, crlf, 2), "two");
	ck_assert_str_eq(linecache_line(lc, crlf, 3), "");
	ck_assert_str_eq(linecache_line(lc, crlf, 4), "last");
	ck_assert_ptr_null(linecache_line(lc, crlf, 5));
	ck_assert_str_eq(linecache_line(lc, nofinal, 2), "b");
	ck_assert_str_eq(linecache_line(lc, nofinal, 1), "a");
	ck_assert_ptr_null(linecache_line(lc, nofinal, 3));
	ck_assert_ptr_null(linecache_line(lc, empty, 1));
	ck_assert_str_eq(linecache_line(lc, blank, 1), "");
	ck_assert_ptr_null(linecache_line(lc, blank, 2));
	/* A lone CR is no line end (compilers count "\n"). */
	ck_assert_str_eq(linecache_line(lc, cr, 1), "x\ry");
	linecache_free(lc);
	free(crlf);
	free(nofinal);
	free(empty);
	free(blank);
	free(cr);
}
END_TEST

START_TEST(test_linecache_missing)
{
	char *path = xasprintf("%s/lc/later.c", tmpdir);
	struct linecache *lc = linecache_new();
	ck_assert_ptr_null(linecache_line(lc, path, 1));
	/* Remembered: a file that appears later is not seen... */
	free(write_text("lc/later.c", "now here\n"));
	ck_assert_ptr_null(linecache_line(lc, path, 1));
	/* ...until a new setting makes the cache look again. */
	linecache_add_source_dir(lc, "/nonexistent");
	ck_assert_str_eq(linecache_line(lc, path, 1), "now here");
	/* A directory, a device, a binary file are missing too. */
	ck_assert_ptr_null(linecache_line(lc, tmpdir, 1));
	ck_assert_ptr_null(linecache_line(lc, "/dev/null", 1));
	static const char junk[] = "\x7f" "ELF\x02\x01\x01\0\0\0\nline 2\n";
	char *bin = write_file("lc/prog.o", junk, sizeof junk - 1);
	ck_assert_ptr_null(linecache_line(lc, bin, 1));
	ck_assert_ptr_null(linecache_line(lc, bin, 2));
	ck_assert_ptr_null(linecache_line(lc, "", 1));
	linecache_free(lc);
	free(bin);
	free(path);
}
END_TEST

START_TEST(test_linecache_junk_after_probe)
{
	/* A NUL past the binary probe only cuts its line short; bytes that are
	 * not UTF-8 come back as they are. */
	size_t n = 9000;
	char *data = xmalloc(n + 32);
	memset(data, 'a', n);
	data[n - 1] = '\n';
	memcpy(data + n, "b\0c\n\xff\xfe\n", 7);
	char *path = write_file("lc/junk.c", data, n + 7);
	struct linecache *lc = linecache_new();
	ck_assert_uint_eq(strlen(linecache_line(lc, path, 1)), n - 1);
	ck_assert_str_eq(linecache_line(lc, path, 2), "b");
	ck_assert_str_eq(linecache_line(lc, path, 3), "\xff\xfe");
	ck_assert_ptr_null(linecache_line(lc, path, 4));
	linecache_free(lc);
	free(path);
	free(data);
}
END_TEST

START_TEST(test_linecache_huge)
{
	/* Many lines, indexed lazily; a size limit keeps whole lines only. */
	size_t nlines = 200000;
	char *data = xmalloc(nlines * 8 + 1);
	size_t len = 0;
	for (size_t i = 1; i <= nlines; i++)
		len += (size_t)sprintf(data + len, "%06zu\n", i);
	char *path = write_file("lc/huge.c", data, len);
	struct linecache *lc = linecache_new();
	ck_assert_str_eq(linecache_line(lc, path, 3), "000003");
	ck_assert_str_eq(linecache_line(lc, path, 200000), "200000");
	ck_assert_str_eq(linecache_line(lc, path, 123456), "123456");
	ck_assert_ptr_null(linecache_line(lc, path, 200001));
	linecache_free(lc);

	lc = linecache_new();
	linecache_set_max_bytes(lc, 7 * 10 + 3); /* ten lines and part of one */
	ck_assert_str_eq(linecache_line(lc, path, 10), "000010");
	ck_assert_ptr_null(linecache_line(lc, path, 11));
	linecache_free(lc);
	free(path);
	free(data);
}
END_TEST

START_TEST(test_linecache_substitution)
{
	char *real = write_text("sub/local/src/a.c", "local a\n");
	char *other = write_text("sub/other/src/a.c", "other a\n");
	char *to = xasprintf("%s/sub/local", tmpdir);
	char *to2 = xasprintf("%s/sub/other", tmpdir);
	struct linecache *lc = linecache_new();
	linecache_add_substitution(lc, "/build/", to);
	linecache_add_substitution(lc, "/build", to2);
	/* The first matching substitution wins; "/build/" means "/build". */
	ck_assert_str_eq(linecache_line(lc, "/build/src/a.c", 1), "local a");
	/* Whole components only: /buildx is not /build. */
	ck_assert_ptr_null(linecache_line(lc, "/buildx/src/a.c", 1));
	/* The original path still works, after the substitutions. */
	ck_assert_str_eq(linecache_line(lc, other, 1), "other a");
	linecache_free(lc);

	/* A substitution that finds nothing falls through to the next one. */
	lc = linecache_new();
	linecache_add_substitution(lc, "/build", "/nonexistent");
	linecache_add_substitution(lc, "/build", to2);
	ck_assert_str_eq(linecache_line(lc, "/build/src/a.c", 1), "other a");
	linecache_free(lc);

	/* The root as FROM keeps the path's own slash. */
	lc = linecache_new();
	char *root = xasprintf("%s/sub", tmpdir);
	linecache_add_substitution(lc, "/", root);
	ck_assert_str_eq(linecache_line(lc, "/local/src/a.c", 1), "local a");
	linecache_free(lc);
	free(root);
	free(real);
	free(other);
	free(to);
	free(to2);
}
END_TEST

START_TEST(test_linecache_source_dir)
{
	free(write_text("sd/tree/proj/src/util.c", "proj util\n"));
	free(write_text("sd/tree/util.c", "top util\n"));
	free(write_text("sd/tree/lib/only.c", "only\n"));
	char *dir = xasprintf("%s/sd/tree", tmpdir);
	struct linecache *lc = linecache_new();
	linecache_add_source_dir(lc, "/nonexistent");
	linecache_add_source_dir(lc, dir);
	/* The longest tail that exists wins over the basename. */
	ck_assert_str_eq(linecache_line(lc, "/home/ci/proj/src/util.c", 1), "proj util");
	ck_assert_str_eq(linecache_line(lc, "/elsewhere/util.c", 1), "top util");
	ck_assert_str_eq(linecache_line(lc, "/a/lib/only.c", 1), "only");
	ck_assert_ptr_null(linecache_line(lc, "/a/b/c/only.c", 1)); /* not in DIR/lib */
	ck_assert_str_eq(linecache_line(lc, "lib/only.c", 1), "only");
	ck_assert_str_eq(linecache_line(lc, "//x//lib//only.c", 1), "only");
	ck_assert_ptr_null(linecache_line(lc, "/a/b/none.c", 1));
	ck_assert_ptr_null(linecache_line(lc, "/", 1));
	linecache_free(lc);
	free(dir);
}
END_TEST

START_TEST(test_linecache_strip)
{
	size_t len;
	const char *s = linecache_strip(" \t x = 1;  \t\r", &len);
	ck_assert_uint_eq(len, 6);
	ck_assert_int_eq(strncmp(s, "x = 1;", len), 0);
	s = linecache_strip(" \t ", &len);
	ck_assert_uint_eq(len, 0);
	s = linecache_strip("", &len);
	ck_assert_uint_eq(len, 0);
	s = linecache_strip("y", &len);
	ck_assert_uint_eq(len, 1);
	ck_assert_int_eq(*s, 'y');
}
END_TEST

/* ---- tables ------------------------------------------------------------ */

#define APP "/usr/bin/app"
/* A frame: function, file, line, module, inlined. */
#define FRAME(fn_, file_, line_, mod_, inl_) \
	{ .function = (fn_), .file = (file_), .line = (line_), .module = (mod_), .inlined = (inl_) }
#define LIBFOO "/usr/lib/libfoo.so.1"

/* The heaps of the table tests, and the files their frames name. */
struct fixture {
	char *cache, *main, *parse, *gone;
	struct heap *heap, *base;
	struct model *m;
	struct model_options o;
	struct linecache *lc;
	struct heap_info info;
};

static void add(struct heap *h, int64_t size, int64_t count, const struct heap_frame *f,
		size_t n)
{
	struct heap_counter c = { .live_bytes = size, .live_blocks = count,
				  .total_bytes = (uint64_t)size * 2,
				  .total_blocks = (uint64_t)count * 2 };
	heap_add_stack(h, &c, f, n);
}

static void fixture_heaps(struct fixture *x)
{
	const struct heap_frame s1[] = {
		FRAME("cache_grow", x->cache, 5, APP, 0), FRAME("main", x->main, 10, APP, 0) };
	const struct heap_frame s2[] = {
		FRAME("dup", x->cache, 7, APP, 1), FRAME("main", x->main, 11, APP, 0) };
	const struct heap_frame s3[] = {
		FRAME("parse", x->parse, 40, APP, 0), FRAME("main", x->main, 12, APP, 0) };
	const struct heap_frame s4[] = {
		FRAME("foo_alloc", NULL, 0, LIBFOO, 0), FRAME("main", x->main, 13, APP, 0) };
	const struct heap_frame s6[] = { FRAME("old", x->gone, 1, APP, 0) };

	x->heap = heap_new(&x->info);
	add(x->heap, 10485760, 2560, s1, 2);
	add(x->heap, 204800, 50, s2, 2);
	add(x->heap, 3000, 3, s3, 2);
	add(x->heap, 100, 1, s4, 2);
	add(x->heap, 50, 1, NULL, 0); /* the overflow stack */

	struct heap_info bi = x->info;
	bi.time_ns -= 60000000000ull;
	x->base = heap_new(&bi);
	add(x->base, 5242880, 1280, s1, 2);
	add(x->base, 4000, 4, s3, 2);
	add(x->base, 1024, 1, s6, 1);
}

static void fixture_init(struct fixture *x)
{
	memset(x, 0, sizeof *x);
	x->cache = write_text("proj/src/cache.c", cache_c);
	x->main = write_text("proj/main.c", main_c);
	x->parse = xstrdup("/nonexistent/src/parse.c");
	x->gone = xstrdup("/old/src/gone.c");
	x->info = (struct heap_info){
		.pid = 1234, .exe = APP, .cmdline = "./app --big", .time_ns = TEST_TIME_NS,
		.seq = 7, .live_bytes = 10693710, .live_blocks = 2615, .peak_bytes = 20971520,
	};
	fixture_heaps(x);
	x->m = model_new();
	x->o = (struct model_options){ .group = GROUP_LINE, .sort = SORT_SIZE, .skip_system = 1 };
	x->lc = linecache_new();
}

static void fixture_free(struct fixture *x)
{
	model_free(x->m);
	heap_free(x->heap);
	heap_free(x->base);
	linecache_free(x->lc);
	free(x->cache);
	free(x->main);
	free(x->parse);
	free(x->gone);
}

/* The table of X's heap grouped by G, against the base with BASE. */
static struct format_table fixture_table(struct fixture *x, enum model_group g, long limit,
					 int base)
{
	x->o.group = g;
	model_compute(x->m, &x->o, x->heap, base ? x->base : NULL);
	return (struct format_table){ .info = &x->info, .m = x->m, .opts = &x->o,
				      .limit = limit, .has_base = base, .header = 1,
				      .lc = x->lc };
}

START_TEST(test_pretty_lines)
{
	struct fixture x;
	fixture_init(&x);
	struct format_table t = fixture_table(&x, GROUP_LINE, 3, 0);
	expect_print(FORMAT_PRETTY, &t,
		"# pid 1234 ./app --big, 2026-11-21 14:00:03, live 10.2 MiB in 2615 blocks, peak 20.0 MiB\n"
		"Top 3 lines\n"
		"#1: src/cache.c:5: 10240.0 KiB\n"
		"    return malloc(n);\n"
		"#2: src/cache.c:7: 200.0 KiB\n"
		"    char *dup(const char *s) { return strdup(s); }\n"
		"#3: src/parse.c:40: 2.9 KiB\n"
		"2 other: 0.1 KiB\n"
		"Total allocated size: 10443.1 KiB\n"
		"\n");
	/* No header, no source, every row. */
	t.header = 0;
	t.lc = NULL;
	t.limit = -1;
	expect_print(FORMAT_PRETTY, &t,
		"Top 5 lines\n"
		"#1: src/cache.c:5: 10240.0 KiB\n"
		"#2: src/cache.c:7: 200.0 KiB\n"
		"#3: src/parse.c:40: 2.9 KiB\n"
		"#4: foo_alloc (libfoo.so.1): 0.1 KiB\n"
		"#5: <stacks not recorded>: 0.0 KiB\n"
		"Total allocated size: 10443.1 KiB\n"
		"\n");
	t.limit = 0;
	expect_print(FORMAT_PRETTY, &t,
		"Top 0 lines\n"
		"5 other: 10443.1 KiB\n"
		"Total allocated size: 10443.1 KiB\n"
		"\n");
	fixture_free(&x);
}
END_TEST

START_TEST(test_pretty_diff)
{
	struct fixture x;
	fixture_init(&x);
	struct format_table t = fixture_table(&x, GROUP_LINE, 3, 1);
	t.header = 0;
	expect_print(FORMAT_PRETTY, &t,
		"Top 3 lines\n"
		"#1: src/cache.c:5: 10240.0 KiB (+5120.0 KiB)\n"
		"    return malloc(n);\n"
		"#2: src/cache.c:7: 200.0 KiB (+200.0 KiB)\n"
		"    char *dup(const char *s) { return strdup(s); }\n"
		"#3: src/parse.c:40: 2.9 KiB (-1.0 KiB)\n"
		"3 other: 0.1 KiB (-0.9 KiB)\n"
		"Total allocated size: 10443.1 KiB (+5318.2 KiB)\n"
		"\n");
	fixture_free(&x);
}
END_TEST

START_TEST(test_pretty_groups)
{
	struct fixture x;
	fixture_init(&x);
	struct format_table t = fixture_table(&x, GROUP_FUNCTION, -1, 0);
	t.header = 0;
	expect_print(FORMAT_PRETTY, &t,
		"Top 5 functions\n"
		"#1: cache_grow: 10240.0 KiB\n"
		"#2: dup: 200.0 KiB\n"
		"#3: parse: 2.9 KiB\n"
		"#4: foo_alloc: 0.1 KiB\n"
		"#5: <stacks not recorded>: 0.0 KiB\n"
		"Total allocated size: 10443.1 KiB\n"
		"\n");
	t = fixture_table(&x, GROUP_FILE, -1, 0);
	t.header = 0;
	expect_print(FORMAT_PRETTY, &t,
		"Top 4 files\n"
		"#1: src/cache.c: 10440.0 KiB\n"
		"#2: src/parse.c: 2.9 KiB\n"
		"#3: ?? (libfoo.so.1): 0.1 KiB\n"
		"#4: <stacks not recorded>: 0.0 KiB\n"
		"Total allocated size: 10443.1 KiB\n"
		"\n");
	t = fixture_table(&x, GROUP_MODULE, 1, 0);
	t.header = 0;
	expect_print(FORMAT_PRETTY, &t,
		"Top 1 modules\n"
		"#1: app: 10442.9 KiB\n"
		"2 other: 0.1 KiB\n"
		"Total allocated size: 10443.1 KiB\n"
		"\n");
	fixture_free(&x);
}
END_TEST

START_TEST(test_pretty_traceback)
{
	struct fixture x;
	fixture_init(&x);
	struct format_table t = fixture_table(&x, GROUP_TRACEBACK, 2, 0);
	t.header = 0;
	expect_print(FORMAT_PRETTY, &t,
		"Top 2 tracebacks\n"
		"#1: 2560 memory blocks: 10240.0 KiB\n"
		"  File \"src/cache.c\", line 5, in cache_grow\n"
		"    return malloc(n);\n"
		"  File \"proj/main.c\", line 10, in main\n"
		"    {\tcache_grow(4096);\n"
		"#2: 50 memory blocks: 200.0 KiB\n"
		"  File \"src/cache.c\", line 7, in dup\n"
		"    char *dup(const char *s) { return strdup(s); }\n"
		"  File \"proj/main.c\", line 11, in main\n"
		"    dup(\"x\");\n"
		"3 other: 3.1 KiB\n"
		"Total allocated size: 10443.1 KiB\n"
		"\n");
	t.limit = -1;
	t.lc = NULL;
	t.has_base = 1;
	model_compute(x.m, &x.o, x.heap, x.base);
	expect_print(FORMAT_PRETTY, &t,
		"Top 6 tracebacks\n"
		"#1: 2560 memory blocks: 10240.0 KiB (+5120.0 KiB)\n"
		"  File \"src/cache.c\", line 5, in cache_grow\n"
		"  File \"proj/main.c\", line 10, in main\n"
		"#2: 50 memory blocks: 200.0 KiB (+200.0 KiB)\n"
		"  File \"src/cache.c\", line 7, in dup\n"
		"  File \"proj/main.c\", line 11, in main\n"
		"#3: 3 memory blocks: 2.9 KiB (-1.0 KiB)\n"
		"  File \"src/parse.c\", line 40, in parse\n"
		"  File \"proj/main.c\", line 12, in main\n"
		"#4: 1 memory blocks: 0.1 KiB (+0.1 KiB)\n"
		"  File \"libfoo.so.1\", in foo_alloc\n"
		"  File \"proj/main.c\", line 13, in main\n"
		"#5: 1 memory blocks: 0.0 KiB (+0.0 KiB)\n"
		"  <stacks not recorded>\n"
		"#6: 0 memory blocks: 0.0 KiB (-1.0 KiB)\n"
		"  File \"src/gone.c\", line 1, in old\n"
		"Total allocated size: 10443.1 KiB (+5318.2 KiB)\n"
		"\n");
	fixture_free(&x);
}
END_TEST

START_TEST(test_pretty_header)
{
	struct fixture x;
	fixture_init(&x);
	struct format_table t = fixture_table(&x, GROUP_LINE, 0, 0);
	x.info.final = 1;
	x.info.exit_status = 3;
	x.info.agent_flags = HT_AGENT_SAMPLED;
	x.info.sample_bytes = 524288;
	x.info.untracked_blocks = 2;
	x.info.live_bytes = 1023;
	x.info.peak_bytes = 1048575; /* 1023.999 KiB is 1.0 MiB, not 1024.0 KiB */
	x.info.cmdline = "";          /* falls back to the executable */
	expect_print(FORMAT_PRETTY, &t,
		"# live at exit (status 3): pid 1234 /usr/bin/app, 2026-11-21 14:00:03, "
		"live 1023 B in 2615 blocks, peak 1.0 MiB, sampled every 512.0 KiB, "
		"2 blocks untracked\n"
		"Top 0 lines\n"
		"5 other: 10443.1 KiB\n"
		"Total allocated size: 10443.1 KiB\n"
		"\n");
	x.info.final = 0;
	x.info.agent_flags = 0;
	x.info.untracked_blocks = 0;
	x.info.time_ns = 0; /* unknown: no time */
	x.info.cmdline = "a\nb\tc";
	x.info.peak_bytes = 5ull << 40;
	expect_print(FORMAT_STATS, &t,
		"# pid 1234 a?b?c, live 1023 B in 2615 blocks, peak 5.0 TiB\n"
		"\n");
	fixture_free(&x);
}
END_TEST

START_TEST(test_stats)
{
	struct fixture x;
	fixture_init(&x);
	struct format_table t = fixture_table(&x, GROUP_LINE, 3, 0);
	t.header = 0;
	expect_print(FORMAT_STATS, &t,
		"src/cache.c:5: size=10.0 MiB, count=2560, average=4096 B\n"
		"src/cache.c:7: size=200 KiB, count=50, average=4096 B\n"
		"src/parse.c:40: size=3000 B, count=3, average=1000 B\n"
		"\n");
	t = fixture_table(&x, GROUP_LINE, -1, 1);
	t.header = 0;
	expect_print(FORMAT_STATS, &t,
		"src/cache.c:5: size=10.0 MiB (+5120 KiB), count=2560 (+1280), average=4096 B\n"
		"src/cache.c:7: size=200 KiB (+200 KiB), count=50 (+50), average=4096 B\n"
		"src/parse.c:40: size=3000 B (-1000 B), count=3 (-1), average=1000 B\n"
		"foo_alloc (libfoo.so.1): size=100 B (+100 B), count=1 (+1), average=100 B\n"
		"<stacks not recorded>: size=50 B (+50 B), count=1 (+1), average=50 B\n"
		"src/gone.c:1: size=0 B (-1024 B), count=0 (-1)\n"
		"\n");
	/* Tracebacks are named by their attributed frame. */
	t = fixture_table(&x, GROUP_TRACEBACK, 2, 0);
	t.header = 0;
	expect_print(FORMAT_STATS, &t,
		"src/cache.c:5: size=10.0 MiB, count=2560, average=4096 B\n"
		"src/cache.c:7: size=200 KiB, count=50, average=4096 B\n"
		"\n");
	t = fixture_table(&x, GROUP_MODULE, -1, 0);
	t.header = 0;
	expect_print(FORMAT_STATS, &t,
		"app: size=10.2 MiB, count=2613, average=4092 B\n"
		"libfoo.so.1: size=100 B, count=1, average=100 B\n"
		"<stacks not recorded>: size=50 B, count=1, average=50 B\n"
		"\n");
	fixture_free(&x);
}
END_TEST

START_TEST(test_json_lines)
{
	struct fixture x;
	fixture_init(&x);
	struct format_table t = fixture_table(&x, GROUP_LINE, 2, 0);
	char *want = xasprintf(
		"{\"pid\":1234,\"exe\":\"/usr/bin/app\",\"cmdline\":\"./app --big\","
		"\"time\":\"2026-11-21T14:00:03Z\",\"time_ns\":1795269603000000000,\"seq\":7,"
		"\"final\":false,\"exit_status\":null,\"group_by\":\"line\","
		"\"sampled\":false,\"sample_bytes\":null,\"new_untraced\":false,\"unwind\":\"libunwind\","
		"\"total\":{\"size\":10693710,\"count\":2615},"
		"\"peak\":20971520,\"live\":{\"size\":10693710,\"count\":2615},"
		"\"rows\":["
		"{\"file\":\"%s\",\"line\":5,\"function\":\"cache_grow\",\"module\":\"/usr/bin/app\","
		"\"size\":10485760,\"count\":2560,\"allocated\":20971520,\"allocations\":5120,"
		"\"source\":\"return malloc(n);\"},"
		"{\"file\":\"%s\",\"line\":7,\"function\":\"dup\",\"module\":\"/usr/bin/app\","
		"\"size\":204800,\"count\":50,\"allocated\":409600,\"allocations\":100,"
		"\"source\":\"char *dup(const char *s) { return strdup(s); }\"}],"
		"\"other\":{\"rows\":3,\"size\":3150,\"count\":5}}\n",
		x.cache, x.cache);
	expect_print(FORMAT_JSON, &t, want);
	free(want);
	fixture_free(&x);
}
END_TEST

START_TEST(test_json_diff_traceback)
{
	struct fixture x;
	fixture_init(&x);
	struct format_table t = fixture_table(&x, GROUP_TRACEBACK, -1, 1);
	x.info.final = 1;
	x.info.exit_status = 3;
	x.info.agent_flags = HT_AGENT_SAMPLED | HT_AGENT_DWARF;
	x.info.sample_bytes = 524288;
	t.lc = NULL;
	char *dwarf = print_to_string(FORMAT_JSON, &t);
	ck_assert_ptr_nonnull(strstr(dwarf, ",\"unwind\":\"dwarf\","));
	free(dwarf);
	x.info.agent_flags = HT_AGENT_SAMPLED | HT_AGENT_FRAME_POINTERS;
	char *got = print_to_string(FORMAT_JSON, &t);
	char *want = xasprintf(
		"{\"pid\":1234,\"exe\":\"/usr/bin/app\",\"cmdline\":\"./app --big\","
		"\"time\":\"2026-11-21T14:00:03Z\",\"time_ns\":1795269603000000000,\"seq\":7,"
		"\"final\":true,\"exit_status\":3,\"group_by\":\"traceback\","
		"\"sampled\":true,\"sample_bytes\":524288,\"new_untraced\":false,\"unwind\":\"fp\","
		"\"total\":{\"size\":10693710,\"count\":2615},"
		"\"base_total\":{\"size\":5247904,\"count\":1285},"
		"\"peak\":20971520,\"live\":{\"size\":10693710,\"count\":2615},"
		"\"rows\":["
		"{\"file\":\"%s\",\"line\":5,\"function\":\"cache_grow\",\"module\":\"/usr/bin/app\","
		"\"size\":10485760,\"count\":2560,\"allocated\":20971520,\"allocations\":5120,"
		"\"source\":null,\"size_diff\":5242880,\"count_diff\":1280,\"frames\":["
		"{\"file\":\"%s\",\"line\":5,\"function\":\"cache_grow\",\"module\":\"/usr/bin/app\","
		"\"source\":null},"
		"{\"file\":\"%s\",\"line\":10,\"function\":\"main\",\"module\":\"/usr/bin/app\","
		"\"source\":null}]},",
		x.cache, x.cache, x.main);
	ck_assert_int_eq(strncmp(got, want, strlen(want)), 0);
	/* The row of the unrecorded stack, the row only in the base, and the
	 * totals at the end. */
	ck_assert_ptr_nonnull(strstr(got,
		",{\"file\":null,\"line\":null,\"function\":null,\"module\":null,"
		"\"size\":50,\"count\":1,\"allocated\":100,\"allocations\":2,\"source\":null,"
		"\"size_diff\":50,\"count_diff\":1,\"frames\":[]},"));
	ck_assert_ptr_nonnull(strstr(got,
		"{\"file\":\"/old/src/gone.c\",\"line\":1,\"function\":\"old\","
		"\"module\":\"/usr/bin/app\",\"size\":0,\"count\":0,\"allocated\":0,"
		"\"allocations\":0,\"source\":null,\"size_diff\":-1024,\"count_diff\":-1,"
		"\"frames\":[{\"file\":\"/old/src/gone.c\",\"line\":1,\"function\":\"old\","
		"\"module\":\"/usr/bin/app\",\"source\":null}]}],"
		"\"other\":{\"rows\":0,\"size\":0,\"count\":0,\"size_diff\":0,\"count_diff\":0}}\n"));
	ck_assert_ptr_eq(strchr(got, '\n'), got + strlen(got) - 1); /* one line */
	free(want);
	free(got);
	fixture_free(&x);
}
END_TEST

START_TEST(test_json_groups_and_escapes)
{
	struct fixture x;
	fixture_init(&x);
	/* A function row shows its function, file and module, not a line. */
	struct format_table t = fixture_table(&x, GROUP_FUNCTION, 1, 0);
	char *got = print_to_string(FORMAT_JSON, &t);
	char *row = xasprintf("\"rows\":[{\"file\":\"%s\",\"line\":null,\"function\":\"cache_grow\","
			      "\"module\":\"/usr/bin/app\",\"size\":10485760,", x.cache);
	ck_assert_ptr_nonnull(strstr(got, row));
	ck_assert_ptr_nonnull(strstr(got, "\"source\":null}]"));
	free(row);
	free(got);
	t = fixture_table(&x, GROUP_MODULE, 1, 0);
	got = print_to_string(FORMAT_JSON, &t);
	ck_assert_ptr_nonnull(strstr(got, "\"group_by\":\"module\""));
	ck_assert_ptr_nonnull(strstr(got, "\"rows\":[{\"file\":null,\"line\":null,"
					  "\"function\":null,\"module\":\"/usr/bin/app\","));
	free(got);

	/* Names and source lines with quotes, controls and bad UTF-8. */
	char *src = write_text("esc/q.c", "  s = \"\\t\xff\x01\";\n");
	const struct heap_frame f[] = { FRAME("op\"er\xc3", src, 1, "/lib/\xc3\xa9.so", 0) };
	struct heap *h = heap_new(&x.info);
	add(h, 10, 1, f, 1);
	x.o.group = GROUP_LINE;
	model_compute(x.m, &x.o, h, NULL);
	t = (struct format_table){ .m = x.m, .opts = &x.o, .limit = -1, .lc = x.lc };
	got = print_to_string(FORMAT_JSON, &t);
	char *want = xasprintf(
		"{\"pid\":null,\"exe\":null,\"cmdline\":null,\"time\":null,\"time_ns\":null,"
		"\"seq\":null,\"final\":false,\"exit_status\":null,\"group_by\":\"line\","
		"\"sampled\":false,\"sample_bytes\":null,\"new_untraced\":false,\"unwind\":null,"
		"\"total\":{\"size\":10,\"count\":1},"
		"\"peak\":null,\"live\":null,\"rows\":[{\"file\":\"%s\",\"line\":1,"
		"\"function\":\"op\\\"er\\ufffd\",\"module\":\"/lib/\xc3\xa9.so\",\"size\":10,"
		"\"count\":1,\"allocated\":20,\"allocations\":2,"
		"\"source\":\"s = \\\"\\\\t\\ufffd\\u0001\\\";\"}],"
		"\"other\":{\"rows\":0,\"size\":0,\"count\":0}}\n", src);
	ck_assert_str_eq(got, want);
	free(want);
	free(got);
	/* The text formats print names as they are; no info, no header. */
	t.header = 1;
	got = print_to_string(FORMAT_STATS, &t);
	ck_assert_str_eq(got, "esc/q.c:1: size=10 B, count=1, average=10 B\n\n");
	free(got);
	heap_free(h);
	free(src);
	fixture_free(&x);
}
END_TEST

/* ---- main -------------------------------------------------------------- */

static int remove_tree(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int r = system(cmd);
	free(cmd);
	return r;
}

static Suite *format_suite(void)
{
	Suite *s = suite_create("format");
	TCase *tc = tcase_create("size");
	tcase_add_test(tc, test_format_size_python);
	tcase_add_test(tc, test_format_parse);
	tcase_add_test(tc, test_json_string);
	suite_add_tcase(s, tc);
	tc = tcase_create("linecache");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_linecache_lines);
	tcase_add_test(tc, test_linecache_endings);
	tcase_add_test(tc, test_linecache_missing);
	tcase_add_test(tc, test_linecache_junk_after_probe);
	tcase_add_test(tc, test_linecache_huge);
	tcase_add_test(tc, test_linecache_substitution);
	tcase_add_test(tc, test_linecache_source_dir);
	tcase_add_test(tc, test_linecache_strip);
	suite_add_tcase(s, tc);
	tc = tcase_create("tables");
	tcase_add_test(tc, test_pretty_lines);
	tcase_add_test(tc, test_pretty_diff);
	tcase_add_test(tc, test_pretty_groups);
	tcase_add_test(tc, test_pretty_traceback);
	tcase_add_test(tc, test_pretty_header);
	tcase_add_test(tc, test_stats);
	tcase_add_test(tc, test_json_lines);
	tcase_add_test(tc, test_json_diff_traceback);
	tcase_add_test(tc, test_json_groups_and_escapes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* The pretty header shows local time: make it UTC. */
	setenv("TZ", "UTC", 1);
	tzset();
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	SRunner *sr = srunner_create(format_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	remove_tree(tmpdir);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
