/*
 * encode_bson: item bodies as BSON, for `Accept: application/bson` (see
 * include/na/encode.h).
 */
#include <bson/bson.h>

#include "na/encode.h"

/* Appends one item document; false if out of memory. */
static bool append_item(bson_t *doc, const struct na_item *item)
{
    return BSON_APPEND_INT64(doc, "id", item->id) && BSON_APPEND_UTF8(doc, "name", item->name) &&
           BSON_APPEND_DOUBLE(doc, "price", (double)item->price_cents / 100.0);
}

/* Hands the document's buffer to the caller, or frees it on failure. */
static uint8_t *steal(bson_t *doc, bool ok, size_t *len)
{
    uint32_t n = 0;
    uint8_t *buf;

    if (!ok) {
        bson_destroy(doc);
        return NULL;
    }
    buf = bson_destroy_with_steal(doc, true, &n);
    if (buf)
        *len = n;
    return buf;
}

uint8_t *na_encode_items_bson(const struct na_item *items, size_t n, size_t *len)
{
    bson_t *doc = bson_new();
    bson_t arr, child;
    char key_storage[16];
    bool ok;

    if (!doc)
        return NULL;
    ok = BSON_APPEND_ARRAY_BEGIN(doc, "items", &arr);
    for (size_t i = 0; ok && i < n; i++) {
        const char *key;

        bson_uint32_to_string((uint32_t)i, &key, key_storage, sizeof(key_storage));
        ok = BSON_APPEND_DOCUMENT_BEGIN(&arr, key, &child) && append_item(&child, &items[i]) &&
             bson_append_document_end(&arr, &child);
    }
    ok = ok && bson_append_array_end(doc, &arr) && BSON_APPEND_INT64(doc, "count", (int64_t)n);
    return steal(doc, ok, len);
}

uint8_t *na_encode_item_bson(const struct na_item *item, size_t *len)
{
    bson_t *doc = bson_new();

    if (!doc)
        return NULL;
    return steal(doc, append_item(doc, item), len);
}
