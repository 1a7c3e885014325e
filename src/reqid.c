/*
 * reqid: request id validation and generation (see include/na/reqid.h).
 */
#include "na/reqid.h"

#include <bson/bson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/*
 * ObjectIds made here rather than by bson_oid_init(), which calls getpid()
 * on every id to notice a fork: a system call per request this process,
 * which never forks, does not need. The layout is the ObjectId's own: 4
 * bytes of seconds since the epoch, 5 random bytes per process, a 3-byte
 * counter starting at a random value.
 */
static uint8_t process_random[5];
static atomic_uint counter;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void seed(void)
{
    uint8_t bytes[8] = {0};
    unsigned start;

    if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes)) {
        uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&bytes;

        memcpy(bytes, &t, sizeof(t));
    }
    memcpy(process_random, bytes, 5);
    memcpy(&start, bytes + 5, 3);
    atomic_init(&counter, start & 0xffffff);
}

static void new_oid(bson_oid_t *oid)
{
    uint8_t data[12];
    uint32_t secs = (uint32_t)time(NULL);
    unsigned n;

    pthread_once(&once, seed);
    n = atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
    data[0] = (uint8_t)(secs >> 24);
    data[1] = (uint8_t)(secs >> 16);
    data[2] = (uint8_t)(secs >> 8);
    data[3] = (uint8_t)secs;
    memcpy(data + 4, process_random, 5);
    data[9] = (uint8_t)(n >> 16);
    data[10] = (uint8_t)(n >> 8);
    data[11] = (uint8_t)n;
    bson_oid_init_from_data(oid, data);
}

bool na_reqid_sane(const char *s, size_t n)
{
    if (!n || n > NA_REQID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("-_.:/+=@", c)) ||
            c == '\0')
            return false;
    }
    return true;
}

size_t na_reqid_assign(const char *client, char out[NA_REQID_MAX + 1])
{
    bson_oid_t oid;

    if (client) {
        size_t n = strnlen(client, NA_REQID_MAX + 1);

        if (na_reqid_sane(client, n)) {
            memcpy(out, client, n);
            out[n] = '\0';
            return n;
        }
    }
    new_oid(&oid);
    bson_oid_to_string(&oid, out);
    return 24;
}
