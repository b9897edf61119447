#ifndef INFRAPROBE_CSHIM_CURL_H
#define INFRAPROBE_CSHIM_CURL_H

#include <curl/curl.h>

// libcurl is opened with dlopen on the first HTTP request instead of being linked: linked, it and
// the libraries it needs (OpenSSL, Kerberos, LDAP, SSH, RTMP, nghttp2, ... about 28 of them) were
// loaded and relocated at every start, most of the exporter's startup time and over 3 MiB of its
// resident memory, also when no target speaks HTTP. Only curl.h's types and constants are used
// at compile time; every function goes through a pointer resolved once by cshim_curl_load.

/// The shared object opened (libcurl4's; the Debian package depends on it).
#define CSHIM_CURL_LIBRARY "libcurl.so.4"

/// Opens libcurl and resolves every function below, once per process (later calls return the
/// first outcome): 0, or -1 when the library or one of its functions is missing, with the reason
/// in cshim_curl_load_error(). Thread-safe. No other cshim_curl_ function may be called before
/// it returned 0.
int cshim_curl_load(void);
/// Why cshim_curl_load failed (an empty string when it did not).
const char *cshim_curl_load_error(void);

CURLcode cshim_curl_global_init(long flags);
CURL *cshim_curl_easy_init(void);
void cshim_curl_easy_cleanup(CURL *handle);
const char *cshim_curl_easy_strerror(CURLcode code);
CURLHcode cshim_curl_easy_header(CURL *handle, const char *name, size_t index, unsigned int origin, int request,
                                 struct curl_header **out);
struct curl_slist *cshim_curl_slist_append(struct curl_slist *list, const char *text);
void cshim_curl_slist_free_all(struct curl_slist *list);
CURLM *cshim_curl_multi_init(void);
CURLMcode cshim_curl_multi_cleanup(CURLM *multi);
CURLMcode cshim_curl_multi_add_handle(CURLM *multi, CURL *handle);
CURLMcode cshim_curl_multi_remove_handle(CURLM *multi, CURL *handle);
CURLMcode cshim_curl_multi_perform(CURLM *multi, int *running);
CURLMcode cshim_curl_multi_poll(CURLM *multi, struct curl_waitfd extra[], unsigned int extra_count, int timeout_ms,
                                int *ready);
CURLMsg *cshim_curl_multi_info_read(CURLM *multi, int *left);

// Swift cannot call C variadic functions; these typed wrappers forward to them.
CURLcode cshim_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode cshim_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value);
CURLcode cshim_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode cshim_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode cshim_easy_setopt_write_callback(CURL *handle, CURLoption option, curl_write_callback callback);
CURLcode cshim_easy_getinfo_long(CURL *handle, CURLINFO info, long *out);
CURLcode cshim_easy_getinfo_double(CURL *handle, CURLINFO info, double *out);
CURLcode cshim_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **out);
CURLMcode cshim_multi_setopt_long(CURLM *multi, CURLMoption option, long value);
/// Opens the transfer's sockets close-on-exec, refuses one within the descriptor reserve (as
/// EMFILE), and stores socket()'s errno in *socket_errno when it fails (curl reports that only
/// as "could not connect", the same as a refused connection).
CURLcode cshim_easy_record_socket_errno(CURL *handle, int *socket_errno);

// Macros whose casts keep them from importing into Swift.
extern const unsigned long cshim_CURLAUTH_BASIC;
extern const unsigned long cshim_CURLAUTH_BEARER;

#endif
