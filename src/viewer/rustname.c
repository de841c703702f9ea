/*
 * Rust symbol names.  Legacy names are Itanium names that __cxa_demangle
 * reads, leaving Rust's escapes and hash for us; v0 names ("_R...", which
 * Rust's own standard library uses) are read here.  Only what a table
 * needs is printed: paths with their generic arguments, types, constants
 * as hex; no hashes, no crate disambiguators, no lifetimes.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "viewer/rustname.h"

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* --- legacy names ------------------------------------------------------ */

/* The character a legacy escape ("$LT$", "$u7b$") at S stands for, with
 * *LEN its length; 0 when S is none. */
static char legacy_escape(const char *s, size_t *len)
{
	static const struct {
		const char *code;
		char c;
	} named[] = {
		{ "$SP$", '@' }, { "$BP$", '*' }, { "$RF$", '&' }, { "$LT$", '<' },
		{ "$GT$", '>' }, { "$LP$", '(' }, { "$RP$", ')' }, { "$C$", ',' },
	};
	for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
		size_t n = strlen(named[i].code);
		if (strncmp(s, named[i].code, n) == 0) {
			*len = n;
			return named[i].c;
		}
	}
	/* $uXX$: a printable ASCII character by its code */
	int hi, lo;
	if (s[1] == 'u' && (hi = hex_value(s[2])) >= 0 && (lo = hex_value(s[3])) >= 0 &&
	    s[4] == '$' && hi < 8 && (hi << 4 | lo) >= 0x20) {
		*len = 5;
		return (char)(hi << 4 | lo);
	}
	return 0;
}

bool rustname_tidy_legacy(char *name)
{
	/* Legacy Rust names end in "::h" and 16 hex digits, a hash of the
	 * crate that C++ names never have. */
	size_t n = strlen(name);
	if (n < 20 || strncmp(name + n - 19, "::h", 3) != 0)
		return false;
	for (size_t i = n - 16; i < n; i++)
		if (hex_value(name[i]) < 0)
			return false;
	name[n - 19] = '\0';
	char *out = name;
	for (const char *p = name; *p != '\0';) {
		size_t len;
		char c;
		/* A component starting with "_$" begins with the escape. */
		if (p[0] == '_' && p[1] == '$' && (p == name || p[-1] == ':')) {
			p++;
		} else if (p[0] == '$' && (c = legacy_escape(p, &len)) != 0) {
			*out++ = c;
			p += len;
		} else if (p[0] == '.' && p[1] == '.') {
			*out++ = ':';
			*out++ = ':';
			p += 2;
		} else {
			*out++ = *p++;
		}
	}
	*out = '\0';
	return true;
}

/* --- v0 names ---------------------------------------------------------- */

#define V0_MAX_DEPTH 64
#define V0_MAX_OUT 4096

struct v0 {
	const char *s; /* the name after "_R" */
	size_t len, pos;
	unsigned depth;
	bool bad;
	char *out;
	size_t n;
};

static void put(struct v0 *d, const char *s, size_t n)
{
	if (d->bad)
		return;
	if (d->n + n >= V0_MAX_OUT) {
		d->bad = true;
		return;
	}
	memcpy(d->out + d->n, s, n);
	d->n += n;
}

static void puts_(struct v0 *d, const char *s)
{
	put(d, s, strlen(s));
}

static char peek(const struct v0 *d)
{
	return d->pos < d->len ? d->s[d->pos] : '\0';
}

static bool eat(struct v0 *d, char c)
{
	if (peek(d) != c)
		return false;
	d->pos++;
	return true;
}

/* <base-62-number>: "_" is 0, digits then "_" are their value + 1. */
static uint64_t base62(struct v0 *d)
{
	if (eat(d, '_'))
		return 0;
	uint64_t v = 0;
	for (;;) {
		char c = peek(d);
		unsigned digit;
		if (c >= '0' && c <= '9')
			digit = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'z')
			digit = (unsigned)(c - 'a') + 10;
		else if (c >= 'A' && c <= 'Z')
			digit = (unsigned)(c - 'A') + 36;
		else if (c == '_')
			break;
		else {
			d->bad = true;
			return 0;
		}
		if (v > (UINT64_MAX - digit) / 62) {
			d->bad = true;
			return 0;
		}
		v = v * 62 + digit;
		d->pos++;
	}
	d->pos++; /* the '_' */
	return v + 1;
}

static uint64_t decimal(struct v0 *d)
{
	char c = peek(d);
	if (c < '0' || c > '9') {
		d->bad = true;
		return 0;
	}
	if (eat(d, '0'))
		return 0;
	uint64_t v = 0;
	while ((c = peek(d)) >= '0' && c <= '9') {
		if (v > UINT64_MAX / 10 - 1) {
			d->bad = true;
			return 0;
		}
		v = v * 10 + (uint64_t)(c - '0');
		d->pos++;
	}
	return v;
}

/* [<disambiguator>]: "s" <base-62-number> */
static uint64_t disambiguator(struct v0 *d)
{
	return eat(d, 's') ? base62(d) + 1 : 0;
}

/* <undisambiguated-identifier>: its bytes at *AT, *N of them.  Punycode
 * ("u" names) is left as it is encoded. */
static void identifier(struct v0 *d, const char **at, size_t *n)
{
	eat(d, 'u');
	uint64_t len = decimal(d);
	eat(d, '_');
	if (d->bad || len > d->len - d->pos) {
		d->bad = true;
		*at = "";
		*n = 0;
		return;
	}
	*at = d->s + d->pos;
	*n = (size_t)len;
	d->pos += (size_t)len;
}

static void put_identifier(struct v0 *d)
{
	const char *at;
	size_t n;
	identifier(d, &at, &n);
	put(d, at, n);
}

static void put_number(struct v0 *d, uint64_t v)
{
	char num[24];
	int k = 0;
	do
		num[k++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (k > 0)
		put(d, &num[--k], 1);
}

static void path(struct v0 *d, bool out);
static void type(struct v0 *d);

/* <backref>: "B" <base-62-number>, an earlier position; the printer goes
 * there and comes back.  Only backwards, so it ends. */
static void backref(struct v0 *d, void (*what)(struct v0 *, bool), bool out)
{
	size_t at = d->pos - 1; /* the 'B' */
	uint64_t to = base62(d);
	if (d->bad || to >= at || d->depth >= V0_MAX_DEPTH) {
		d->bad = true;
		return;
	}
	size_t back = d->pos;
	d->pos = (size_t)to;
	d->depth++;
	what(d, out);
	d->depth--;
	d->pos = back;
}

static void type_printed(struct v0 *d, bool out)
{
	(void)out;
	type(d);
}

static void lifetime_skip(struct v0 *d)
{
	if (eat(d, 'L'))
		base62(d);
}

static void constant(struct v0 *d);

static void constant_printed(struct v0 *d, bool out)
{
	(void)out;
	constant(d);
}

/* <const>: a type then its value, in decimal up to 64 bits, in hex past
 * that ("p": a placeholder). */
static void constant(struct v0 *d)
{
	if (eat(d, 'B')) {
		backref(d, constant_printed, true);
		return;
	}
	if (eat(d, 'p')) {
		puts_(d, "_");
		return;
	}
	char t = peek(d);
	if (t == '\0' || !strchr("abcdefhijlmnostxy", t)) {
		d->bad = true;
		return;
	}
	d->pos++;
	if (eat(d, 'n'))
		puts_(d, "-");
	size_t start = d->pos;
	while (hex_value(peek(d)) >= 0)
		d->pos++;
	if (!eat(d, '_')) {
		d->bad = true;
		return;
	}
	if (t == 'b') {
		puts_(d, d->pos - start == 2 && d->s[start] == '1' ? "true" : "false");
		return;
	}
	size_t digits = d->pos - 1 - start;
	if (digits <= 16) {
		uint64_t v = 0;
		for (size_t i = 0; i < digits; i++)
			v = v << 4 | (uint64_t)hex_value(d->s[start + i]);
		put_number(d, v);
	} else {
		puts_(d, "0x");
		put(d, d->s + start, digits);
	}
}

/* In a list that "E" ends: whether an element follows, SEP put before each
 * but the first (element I); a list that does not end is bad. */
static bool list_more(struct v0 *d, int i, const char *sep)
{
	if (d->bad || eat(d, 'E'))
		return false;
	if (d->pos >= d->len) {
		d->bad = true;
		return false;
	}
	if (i > 0)
		puts_(d, sep);
	return true;
}

/* <generic-arg>s up to "E", in angle brackets unless there are none but
 * lifetimes, which are not shown. */
static void generic_args(struct v0 *d)
{
	int shown = 0;
	while (!d->bad && !eat(d, 'E')) {
		if (d->pos >= d->len) {
			d->bad = true;
			return;
		}
		if (peek(d) == 'L') {
			lifetime_skip(d);
			continue;
		}
		puts_(d, shown++ ? ", " : "<");
		if (eat(d, 'K'))
			constant(d);
		else
			type(d);
	}
	if (shown)
		puts_(d, ">");
}

static const char *basic_type(char c)
{
	switch (c) {
	case 'a': return "i8";
	case 'b': return "bool";
	case 'c': return "char";
	case 'd': return "f64";
	case 'e': return "str";
	case 'f': return "f32";
	case 'h': return "u8";
	case 'i': return "isize";
	case 'j': return "usize";
	case 'l': return "i32";
	case 'm': return "u32";
	case 'n': return "i128";
	case 'o': return "u128";
	case 'p': return "_";
	case 's': return "i16";
	case 't': return "u16";
	case 'u': return "()";
	case 'v': return "...";
	case 'x': return "i64";
	case 'y': return "u64";
	case 'z': return "!";
	default: return NULL;
	}
}

static void fn_sig(struct v0 *d)
{
	if (eat(d, 'G'))
		base62(d);
	if (eat(d, 'U'))
		puts_(d, "unsafe ");
	if (eat(d, 'K')) {
		puts_(d, "extern \"");
		if (eat(d, 'C'))
			puts_(d, "C");
		else
			put_identifier(d);
		puts_(d, "\" ");
	}
	puts_(d, "fn(");
	for (int i = 0; list_more(d, i, ", "); i++)
		type(d);
	puts_(d, ")");
	if (peek(d) != 'u') {
		puts_(d, " -> ");
		type(d);
	} else {
		d->pos++;
	}
}

static void dyn_bounds(struct v0 *d)
{
	if (eat(d, 'G'))
		base62(d);
	puts_(d, "dyn ");
	for (int i = 0; list_more(d, i, " + "); i++) {
		path(d, true);
		/* Bindings join the trait's own arguments: Fn<(T,), Output = U> */
		for (int b = 0; !d->bad && eat(d, 'p'); b++) {
			if (b > 0)
				puts_(d, ", ");
			else if (d->n > 0 && d->out[d->n - 1] == '>')
				d->n--, puts_(d, ", ");
			else
				puts_(d, "<");
			put_identifier(d);
			puts_(d, " = ");
			type(d);
			if (peek(d) != 'p')
				puts_(d, ">");
		}
	}
	lifetime_skip(d);
}

/* Enter one level of nesting; false (and bad) past the bound or after an
 * error. */
static bool nest(struct v0 *d)
{
	if (d->bad)
		return false;
	if (d->depth >= V0_MAX_DEPTH) {
		d->bad = true;
		return false;
	}
	d->depth++;
	return true;
}

static void type(struct v0 *d)
{
	if (!nest(d))
		return;
	char c = peek(d);
	const char *basic = c >= 'a' && c <= 'z' ? basic_type(c) : NULL;
	if (basic != NULL) {
		d->pos++;
		puts_(d, basic);
	} else if (eat(d, 'A')) {
		puts_(d, "[");
		type(d);
		puts_(d, "; ");
		constant(d);
		puts_(d, "]");
	} else if (eat(d, 'S')) {
		puts_(d, "[");
		type(d);
		puts_(d, "]");
	} else if (eat(d, 'T')) {
		puts_(d, "(");
		int i = 0;
		for (; list_more(d, i, ", "); i++)
			type(d);
		puts_(d, i == 1 ? ",)" : ")");
	} else if (eat(d, 'R') || eat(d, 'Q')) {
		bool mut = d->s[d->pos - 1] == 'Q';
		lifetime_skip(d);
		puts_(d, mut ? "&mut " : "&");
		type(d);
	} else if (eat(d, 'P') || eat(d, 'O')) {
		puts_(d, d->s[d->pos - 1] == 'O' ? "*mut " : "*const ");
		type(d);
	} else if (eat(d, 'F')) {
		fn_sig(d);
	} else if (eat(d, 'D')) {
		dyn_bounds(d);
	} else if (eat(d, 'B')) {
		backref(d, type_printed, true);
	} else {
		path(d, true);
	}
	d->depth--;
}

/* <path>, printed when OUT (an impl's path and the instantiating crate
 * are read, not shown). */
static void path(struct v0 *d, bool out)
{
	if (!nest(d))
		return;
	size_t mark = d->n;
	char c = peek(d);
	d->pos++;
	switch (c) {
	case 'C': /* crate root */
		disambiguator(d);
		put_identifier(d);
		break;
	case 'M': /* <T> */
		disambiguator(d);
		path(d, false);
		puts_(d, "<");
		type(d);
		puts_(d, ">");
		break;
	case 'X': /* <T as Trait> */
		disambiguator(d);
		path(d, false);
		/* fall through */
	case 'Y': /* <T as Trait> */
		puts_(d, "<");
		type(d);
		puts_(d, " as ");
		path(d, true);
		puts_(d, ">");
		break;
	case 'N': { /* path::name; closures, shims and the like in braces */
		char ns = peek(d);
		if (!((ns >= 'A' && ns <= 'Z') || (ns >= 'a' && ns <= 'z'))) {
			d->bad = true;
			break;
		}
		d->pos++;
		path(d, true);
		uint64_t dis = disambiguator(d);
		const char *at;
		size_t n;
		identifier(d, &at, &n);
		puts_(d, "::");
		if (ns >= 'A' && ns <= 'Z') { /* {closure#0}, {shim:vtable#0}, {K#0} */
			if (ns == 'C' || ns == 'S')
				puts_(d, ns == 'C' ? "{closure" : "{shim");
			else
				puts_(d, "{"), put(d, &ns, 1);
			if (n > 0) {
				puts_(d, ":");
				put(d, at, n);
			}
			puts_(d, "#");
			put_number(d, dis);
			puts_(d, "}");
		} else {
			put(d, at, n);
		}
		break;
	}
	case 'I': /* path<args> */
		path(d, true);
		generic_args(d);
		break;
	case 'B':
		backref(d, path, true);
		break;
	default:
		d->bad = true;
		break;
	}
	if (!out)
		d->n = mark;
	d->depth--;
}

char *rustname_demangle_v0(const char *sym)
{
	if (strncmp(sym, "_R", 2) != 0)
		return NULL;
	char buf[V0_MAX_OUT];
	struct v0 d = { .s = sym + 2, .len = strlen(sym + 2), .out = buf };
	if (peek(&d) >= '0' && peek(&d) <= '9')
		decimal(&d); /* an encoding version */
	path(&d, true);
	/* The instantiating crate and vendor suffixes ('.' ...) are not shown;
	 * anything else is not a name we read. */
	if (!d.bad && d.pos < d.len && peek(&d) != '.')
		path(&d, false);
	if (d.bad || (d.pos < d.len && peek(&d) != '.') || d.n == 0)
		return NULL;
	buf[d.n] = '\0';
	return xstrdup(buf);
}
