/*
 * LD_PRELOAD shim for wrk: a full TLS handshake on every new connection.
 *
 * wrk reuses one SSL object per connection slot: on reconnect it calls
 * SSL_shutdown() + SSL_clear(), and SSL_clear() keeps the last session (with
 * the TLS 1.3 tickets the server sent), so the next SSL_connect() resumes it.
 * Against nginx that made 3924 of 3929 handshakes resumptions (no certificate,
 * no signature): "TLS new connection per request" would not measure a
 * handshake. Dropping the session before SSL_clear() makes every connection a
 * full handshake again. Built by the harness (bench.py) into its temp dir.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

typedef struct ssl_st SSL;

int SSL_clear(SSL *s) {
    static int (*real_clear)(SSL *);
    static int (*set_session)(SSL *, void *);
    if (real_clear == NULL) {
        real_clear = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_clear");
        set_session = (int (*)(SSL *, void *))dlsym(RTLD_NEXT, "SSL_set_session");
        if (real_clear == NULL || set_session == NULL)
            return 0; /* SSL_clear's failure value: wrk reports errors, never resumes */
    }
    set_session(s, NULL); /* NULL: forget the session, nothing to offer next time */
    return real_clear(s);
}
