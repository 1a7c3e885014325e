/*
 * handlers_items.h: the item routes, for handlers.c alone (private to
 * src/: the public contract is include/na/handlers.h).
 */
#ifndef NA_HANDLERS_ITEMS_H
#define NA_HANDLERS_ITEMS_H

#include <stdbool.h>

#include "na/handlers.h"

/* na_handle_precheck() for /api/items and /api/items/{id}. */
bool na_items_precheck(struct na_request *req);

/*
 * The API key check of writes, shared with the health toggles: true when
 * refused (401 with the challenge, or 403 without an API_KEY).
 */
bool na_handle_auth_refused(struct na_request *req);

/* na_handle() for the same routes. */
void na_items_handle(struct na_request *req);

#endif
