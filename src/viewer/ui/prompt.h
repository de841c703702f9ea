/*
 * The search prompt on the footer line: what is typed filters the table
 * as it is typed (live_search_set); Enter keeps it as an include filter,
 * Esc drops it.  The movement keys still move the selection meanwhile.
 */
#ifndef HEAPTOP_UI_PROMPT_H
#define HEAPTOP_UI_PROMPT_H

#include "viewer/live.h"

struct prompt;

struct prompt *prompt_new(void);
void prompt_free(struct prompt *p);
/* Start a search on LV with no text. */
unsigned prompt_open(struct prompt *p, struct live *lv);
/* Draw the prompt on line Y, W columns wide. */
void prompt_draw(const struct prompt *p, int y, int w);
/* Act on KEY; KEYS_CLOSE once the search is kept or dropped. */
unsigned prompt_key(struct prompt *p, struct live *lv, int key);

#endif
