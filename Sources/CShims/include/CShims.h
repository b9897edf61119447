#ifndef INFRAPROBE_CSHIMS_H
#define INFRAPROBE_CSHIMS_H

#include <microhttpd.h>
#include <stdint.h>
#include <sys/epoll.h>
#include "cshim_curl.h"
#include "cshim_redis.h"

/// Descriptors kept free below RLIMIT_NOFILE: libdispatch's worker-pool monitor opens
/// /proc/<tid>/stat and crashes the process when that open() fails, so the process's own sockets
/// must never take the last descriptors.
#define CSHIM_DESCRIPTOR_RESERVE 64
/// 1 when descriptor `fd` lies within the reserve (the caller should close it and fail with EMFILE).
int cshim_within_descriptor_reserve(int fd);
/// A non-blocking, close-on-exec eventfd (a loop's wake-up signal), or -1 with errno set.
int cshim_eventfd(void);
/// Names the calling thread (as ps and /proc show it); the kernel keeps the first 15 bytes.
void cshim_set_thread_name(const char *name);

struct MHD_Daemon *cshim_mhd_start_daemon(unsigned int flags, uint16_t port,
                                          MHD_AccessHandlerCallback handler, void *handler_cls,
                                          const struct MHD_OptionItem *options);
uint16_t cshim_mhd_bind_port(struct MHD_Daemon *daemon);
int cshim_mhd_connection_fd(struct MHD_Connection *connection);
/// Client certificate verification status (GnuTLS), 0 when verified; -1 when no TLS session.
int cshim_mhd_client_cert_verified(struct MHD_Connection *connection, int *has_certificate);

/// The listening socket of a daemon, or -1.
int cshim_mhd_listen_fd(struct MHD_Daemon *daemon);
/// The epoll descriptor of a daemon started with MHD_USE_EPOLL (readable when it has work), or -1.
int cshim_mhd_epoll_fd(struct MHD_Daemon *daemon);
/// The daemon a connection belongs to.
struct MHD_Daemon *cshim_mhd_connection_daemon(struct MHD_Connection *connection);
/// Connections the daemon holds (including suspended ones).
unsigned int cshim_mhd_connection_count(struct MHD_Daemon *daemon);
/// The subject alternative names (DNS, e-mail, IP, URI) of the client certificate, each followed by
/// a NUL, into out; returns the bytes used, 0 without a certificate, -1 if out is too small.
int cshim_mhd_client_cert_sans(struct MHD_Connection *connection, char *out, int out_size);
/// Loads key + certificate (+ trust) into GnuTLS credentials and compiles the priority string, as
/// libmicrohttpd will: returns 0, or a negative GnuTLS error with a message in error_out.
int cshim_tls_check(const char *key_pem, const char *cert_pem, const char *trust_pem, const char *priorities,
                    char *error_out, int error_size);

/// bcrypt/crypt(3) through libcrypt's re-entrant crypt_rn; returns 0 and fills out on success.
int cshim_crypt(const char *phrase, const char *setting, char *out, int out_size);

/// fork + exec for test harnesses: the child gets SIGKILL when the forking thread (keep it alive
/// for as long as the child should live) or its process dies (PR_SET_PDEATHSIG, which
/// posix_spawn cannot set), stdio from the given fds, no other inherited fds, default signal
/// dispositions and mask. Returns the pid, or -1 with errno set.
int cshim_spawn_dying_with_parent(const char *path, char *const argv[], char *const envp[],
                                  int stdin_fd, int stdout_fd, int stderr_fd);

#endif
