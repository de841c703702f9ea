/* The search prompt. */
#include "config.h"

#include <curses.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "common/xalloc.h"
#include "viewer/ui/crt.h"
#include "viewer/ui/keys.h"
#include "viewer/ui/prompt.h"

#define PROMPT_MAX 256

struct prompt {
	char text[PROMPT_MAX]; /* UTF-8 */
	size_t len;
};

static const struct keys_hint hints[] = {
	{ "Enter", "Keep as filter" }, { "Esc", "Clear" },
};

struct prompt *prompt_new(void)
{
	return xcalloc(1, sizeof(struct prompt));
}

void prompt_free(struct prompt *p)
{
	free(p);
}

static void prompt_clear(struct prompt *p)
{
	p->len = 0;
	p->text[0] = '\0';
}

unsigned prompt_open(struct prompt *p, struct live *lv)
{
	prompt_clear(p);
	return live_search_set(lv, "");
}

void prompt_draw(const struct prompt *p, int y, int w)
{
	int x = crt_put(y, 0, "Search:", w, CRT_KEY);
	x += 1;
	x += crt_put(y, x, p->text, w - x - 1, CRT_VALUE);
	crt_put(y, x, "_", 1, CRT_MESSAGE);
	keys_draw_hints(y, x + 4, w, hints, sizeof hints / sizeof hints[0]);
}

/* Remove the last character (not byte) of the text. */
static void prompt_erase(struct prompt *p)
{
	while (p->len > 0) {
		unsigned char c = (unsigned char)p->text[--p->len];
		if ((c & 0xc0) != 0x80)
			break;
	}
	p->text[p->len] = '\0';
}

/* Append the character KEY in UTF-8 (or the locale's encoding). */
static void prompt_add(struct prompt *p, int key)
{
	char buf[MB_LEN_MAX];
	mbstate_t st;
	memset(&st, 0, sizeof st);
	size_t n = wcrtomb(buf, (wchar_t)key, &st);
	if (n == (size_t)-1 || p->len + n >= PROMPT_MAX)
		return;
	memcpy(p->text + p->len, buf, n);
	p->len += n;
	p->text[p->len] = '\0';
}

unsigned prompt_key(struct prompt *p, struct live *lv, int key)
{
	if (keys_is_enter(key))
		return live_search_commit(lv) | KEYS_CLOSE;
	if (key == KEYS_ESC || key == KEYS_CTRL('c'))
		return live_search_cancel(lv) | KEYS_CLOSE;
	if (key >= KEYS_FN(0) && !keys_is_backspace(key))
		return keys_move(lv, key); /* arrows, pages: letters are text here */
	if (keys_is_backspace(key))
		prompt_erase(p);
	else if (key == KEYS_CTRL('u'))
		prompt_clear(p);
	else if (key >= ' ' && key != 127)
		prompt_add(p, key);
	else
		return 0;
	return live_search_set(lv, p->text);
}
