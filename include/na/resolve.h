/*
 * resolve: host names to addresses, within a deadline.
 *
 * getaddrinfo() blocks for as long as the resolver takes: with a DNS
 * server that does not answer, glibc's defaults make that 10 s or more per
 * name, during which a database worker could neither connect elsewhere
 * nor notice a shutdown (which joins it). Here each lookup runs on a
 * detached thread of its own while the caller waits at most its deadline,
 * checking a stop flag as it waits; a lookup that overruns is abandoned,
 * and its thread frees what it holds when the lookup ends.
 *
 * Any thread may call. The lookup function is injectable, for tests.
 */
#ifndef NA_RESOLVE_H
#define NA_RESOLVE_H

#include <netdb.h>
#include <stdatomic.h>
#include <stddef.h>

#define NA_RESOLVE_ADDR_MAX 46 /* INET6_ADDRSTRLEN */
#define NA_RESOLVE_MAX      8  /* addresses kept per name */

typedef int (*na_getaddrinfo_fn)(const char *node, const char *service,
                                 const struct addrinfo *hints, struct addrinfo **res);

/*
 * Resolves `name` to at most NA_RESOLVE_MAX numeric addresses (IPv4 and
 * IPv6, in the resolver's order), waiting at most `timeout_ms`, and giving
 * up early once *stop (may be NULL) turns true. `lookup` NULL means
 * getaddrinfo. Returns 0 and sets *n (>= 1), or -1 with the reason in `err`.
 */
int na_resolve(const char *name, unsigned timeout_ms, const atomic_bool *stop,
               na_getaddrinfo_fn lookup, char addrs[][NA_RESOLVE_ADDR_MAX], size_t *n, char *err,
               size_t errlen);

#endif
