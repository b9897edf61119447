#define _GNU_SOURCE
#include "CShims.h"
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLHcode (*easy_header)(CURL *, const char *, size_t, unsigned int, int, struct curl_header **);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd[], unsigned int, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
} curl;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_status = -1;
static char curl_error[512];

static int resolve(void *library, const char *name, void **slot) {
    *slot = dlsym(library, name);
    if (*slot != NULL) return 1;
    snprintf(curl_error, sizeof(curl_error), "%s has no %s (libcurl 7.83 or later is needed)", CSHIM_CURL_LIBRARY, name);
    return 0;
}

static void curl_open(void) {
    // RTLD_LOCAL: curl's symbols stay out of the global scope, where they could interpose on
    // another library's; RTLD_NOW: a missing function shows here, not in the middle of a probe.
    void *library = dlopen(CSHIM_CURL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        const char *reason = dlerror();
        snprintf(curl_error, sizeof(curl_error), "cannot load %s (%s): HTTP probes need libcurl (Debian package libcurl4)",
                 CSHIM_CURL_LIBRARY, reason ? reason : "unknown error");
        return;
    }
#define RESOLVE(field, name) if (!resolve(library, name, (void **)&curl.field)) { dlclose(library); return; }
    RESOLVE(global_init, "curl_global_init")
    RESOLVE(easy_init, "curl_easy_init")
    RESOLVE(easy_cleanup, "curl_easy_cleanup")
    RESOLVE(easy_strerror, "curl_easy_strerror")
    RESOLVE(easy_header, "curl_easy_header")
    RESOLVE(easy_setopt, "curl_easy_setopt")
    RESOLVE(easy_getinfo, "curl_easy_getinfo")
    RESOLVE(slist_append, "curl_slist_append")
    RESOLVE(slist_free_all, "curl_slist_free_all")
    RESOLVE(multi_init, "curl_multi_init")
    RESOLVE(multi_cleanup, "curl_multi_cleanup")
    RESOLVE(multi_add_handle, "curl_multi_add_handle")
    RESOLVE(multi_remove_handle, "curl_multi_remove_handle")
    RESOLVE(multi_perform, "curl_multi_perform")
    RESOLVE(multi_poll, "curl_multi_poll")
    RESOLVE(multi_info_read, "curl_multi_info_read")
    RESOLVE(multi_setopt, "curl_multi_setopt")
#undef RESOLVE
    curl_status = 0;
}

int cshim_curl_load(void) {
    pthread_once(&curl_once, curl_open);
    return curl_status;
}

const char *cshim_curl_load_error(void) { return curl_status == 0 ? "" : curl_error; }

CURLcode cshim_curl_global_init(long flags) { return curl.global_init(flags); }
CURL *cshim_curl_easy_init(void) { return curl.easy_init(); }
void cshim_curl_easy_cleanup(CURL *h) { curl.easy_cleanup(h); }
const char *cshim_curl_easy_strerror(CURLcode code) { return curl.easy_strerror(code); }
CURLHcode cshim_curl_easy_header(CURL *h, const char *name, size_t index, unsigned int origin, int request,
                                 struct curl_header **out) {
    return curl.easy_header(h, name, index, origin, request, out);
}
struct curl_slist *cshim_curl_slist_append(struct curl_slist *list, const char *text) { return curl.slist_append(list, text); }
void cshim_curl_slist_free_all(struct curl_slist *list) { curl.slist_free_all(list); }
CURLM *cshim_curl_multi_init(void) { return curl.multi_init(); }
CURLMcode cshim_curl_multi_cleanup(CURLM *m) { return curl.multi_cleanup(m); }
CURLMcode cshim_curl_multi_add_handle(CURLM *m, CURL *h) { return curl.multi_add_handle(m, h); }
CURLMcode cshim_curl_multi_remove_handle(CURLM *m, CURL *h) { return curl.multi_remove_handle(m, h); }
CURLMcode cshim_curl_multi_perform(CURLM *m, int *running) { return curl.multi_perform(m, running); }
CURLMcode cshim_curl_multi_poll(CURLM *m, struct curl_waitfd extra[], unsigned int count, int timeout_ms, int *ready) {
    return curl.multi_poll(m, extra, count, timeout_ms, ready);
}
CURLMsg *cshim_curl_multi_info_read(CURLM *m, int *left) { return curl.multi_info_read(m, left); }

CURLcode cshim_easy_setopt_long(CURL *h, CURLoption o, long v) { return curl.easy_setopt(h, o, v); }
CURLcode cshim_easy_setopt_off_t(CURL *h, CURLoption o, curl_off_t v) { return curl.easy_setopt(h, o, v); }
CURLcode cshim_easy_setopt_string(CURL *h, CURLoption o, const char *v) { return curl.easy_setopt(h, o, v); }
CURLcode cshim_easy_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl.easy_setopt(h, o, v); }
CURLcode cshim_easy_setopt_write_callback(CURL *h, CURLoption o, curl_write_callback cb) { return curl.easy_setopt(h, o, cb); }
CURLcode cshim_easy_getinfo_long(CURL *h, CURLINFO i, long *out) { return curl.easy_getinfo(h, i, out); }
CURLcode cshim_easy_getinfo_double(CURL *h, CURLINFO i, double *out) { return curl.easy_getinfo(h, i, out); }
CURLcode cshim_easy_getinfo_pointer(CURL *h, CURLINFO i, void **out) { return curl.easy_getinfo(h, i, out); }
CURLMcode cshim_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl.multi_setopt(m, o, v); }

static curl_socket_t cshim_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address) {
    (void)purpose;
    curl_socket_t fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd != CURL_SOCKET_BAD && cshim_within_descriptor_reserve(fd)) {
        close(fd);
        fd = CURL_SOCKET_BAD;
        errno = EMFILE;
    }
    if (fd == CURL_SOCKET_BAD && clientp) *(int *)clientp = errno;
    return fd;
}

CURLcode cshim_easy_record_socket_errno(CURL *h, int *socket_errno) {
    CURLcode code = curl.easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, cshim_open_socket);
    return code != CURLE_OK ? code : curl.easy_setopt(h, CURLOPT_OPENSOCKETDATA, (void *)socket_errno);
}

const unsigned long cshim_CURLAUTH_BASIC = CURLAUTH_BASIC;
const unsigned long cshim_CURLAUTH_BEARER = CURLAUTH_BEARER;
