#define _GNU_SOURCE
#include "CShims.h"
#include <crypt.h>
#include <string.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

int cshim_within_descriptor_reserve(int fd) {
    struct rlimit limit;
    if (fd < 0 || getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 0;
    return (rlim_t)fd + CSHIM_DESCRIPTOR_RESERVE >= limit.rlim_cur;
}

int cshim_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

void cshim_set_thread_name(const char *name) { prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0); }

struct MHD_Daemon *cshim_mhd_start_daemon(unsigned int flags, uint16_t port,
                                          MHD_AccessHandlerCallback handler, void *handler_cls,
                                          const struct MHD_OptionItem *options) {
    return MHD_start_daemon(flags, port, NULL, NULL, handler, handler_cls,
                            MHD_OPTION_ARRAY, options, MHD_OPTION_END);
}

uint16_t cshim_mhd_bind_port(struct MHD_Daemon *d) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

int cshim_mhd_connection_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info ? info->connect_fd : -1;
}

int cshim_mhd_client_cert_verified(struct MHD_Connection *c, int *has_certificate) {
    *has_certificate = 0;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (info == NULL || info->tls_session == NULL) return -1;
    gnutls_session_t session = (gnutls_session_t)info->tls_session;
    unsigned int list_size = 0;
    if (gnutls_certificate_get_peers(session, &list_size) != NULL && list_size > 0) *has_certificate = 1;
    unsigned int status = 0;
    if (gnutls_certificate_verify_peers2(session, &status) != 0) return -2;
    return (int)status;
}

int cshim_mhd_listen_fd(struct MHD_Daemon *d) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_LISTEN_FD);
    return info ? (int)info->listen_fd : -1;
}

int cshim_mhd_epoll_fd(struct MHD_Daemon *d) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
    return info ? info->epoll_fd : -1;
}

struct MHD_Daemon *cshim_mhd_connection_daemon(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_DAEMON);
    return info ? info->daemon : NULL;
}

unsigned int cshim_mhd_connection_count(struct MHD_Daemon *d) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info ? info->num_connections : 0;
}

int cshim_mhd_client_cert_sans(struct MHD_Connection *c, char *out, int out_size) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (info == NULL || info->tls_session == NULL) return 0;
    unsigned int list_size = 0;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers((gnutls_session_t)info->tls_session, &list_size);
    if (peers == NULL || list_size == 0) return 0;
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) != 0) return 0;
    if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) != 0) { gnutls_x509_crt_deinit(crt); return 0; }
    int used = 0;
    for (unsigned int seq = 0; seq < 64; seq++) {
        char value[1024];
        size_t size = sizeof(value) - 1;
        int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, value, &size, NULL);
        if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
        if (type < 0) continue;
        char text[INET6_ADDRSTRLEN + 1];
        const char *item = NULL;
        size_t length = 0;
        if (type == GNUTLS_SAN_DNSNAME || type == GNUTLS_SAN_RFC822NAME || type == GNUTLS_SAN_URI) {
            value[size] = 0;
            item = value;
            length = size;
        } else if (type == GNUTLS_SAN_IPADDRESS && (size == 4 || size == 16)) {
            if (inet_ntop(size == 4 ? AF_INET : AF_INET6, value, text, sizeof(text)) == NULL) continue;
            item = text;
            length = strlen(text);
        }
        if (item == NULL) continue;
        if (used + (int)length + 1 > out_size) { gnutls_x509_crt_deinit(crt); return -1; }
        memcpy(out + used, item, length);
        out[used + length] = 0;
        used += (int)length + 1;
    }
    gnutls_x509_crt_deinit(crt);
    return used;
}

int cshim_tls_check(const char *key_pem, const char *cert_pem, const char *trust_pem, const char *priorities,
                    char *error_out, int error_size) {
    error_out[0] = 0;
    gnutls_certificate_credentials_t credentials;
    int status = gnutls_certificate_allocate_credentials(&credentials);
    if (status < 0) { snprintf(error_out, error_size, "%s", gnutls_strerror(status)); return status; }
    gnutls_datum_t key = { (unsigned char *)key_pem, (unsigned int)strlen(key_pem) };
    gnutls_datum_t cert = { (unsigned char *)cert_pem, (unsigned int)strlen(cert_pem) };
    status = gnutls_certificate_set_x509_key_mem2(credentials, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (status < 0) {
        snprintf(error_out, error_size, "certificate and key: %s", gnutls_strerror(status));
    } else if (trust_pem != NULL) {
        gnutls_datum_t trust = { (unsigned char *)trust_pem, (unsigned int)strlen(trust_pem) };
        int added = gnutls_certificate_set_x509_trust_mem(credentials, &trust, GNUTLS_X509_FMT_PEM);
        if (added < 0) { status = added; snprintf(error_out, error_size, "client CA: %s", gnutls_strerror(added)); }
        else if (added == 0) { status = GNUTLS_E_NO_CERTIFICATE_FOUND; snprintf(error_out, error_size, "client CA: no certificate found"); }
    }
    if (status >= 0 && priorities != NULL) {
        gnutls_priority_t cache;
        const char *where = NULL;
        status = gnutls_priority_init(&cache, priorities, &where);
        if (status < 0) snprintf(error_out, error_size, "priority string at \"%s\": %s", where ? where : "", gnutls_strerror(status));
        else gnutls_priority_deinit(cache);
    }
    gnutls_certificate_free_credentials(credentials);
    return status < 0 ? status : 0;
}

int cshim_crypt(const char *phrase, const char *setting, char *out, int out_size) {
    struct crypt_data data;
    memset(&data, 0, sizeof(data));
    char *result = crypt_r(phrase, setting, &data);
    if (result == NULL || result[0] == '*') return -1;
    size_t n = strlen(result);
    if ((int)n >= out_size) return -1;
    memcpy(out, result, n + 1);
    return 0;
}

int cshim_spawn_dying_with_parent(const char *path, char *const argv[], char *const envp[],
                                  int stdin_fd, int stdout_fd, int stderr_fd) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) return pid;
    // Child: only async-signal-safe calls until exec.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) _exit(126);
    if (getppid() != parent) _exit(126);  // the parent died before prctl took effect
    if (stdin_fd >= 0 && dup2(stdin_fd, 0) < 0) _exit(126);
    if (stdout_fd >= 0 && dup2(stdout_fd, 1) < 0) _exit(126);
    if (stderr_fd >= 0 && dup2(stderr_fd, 2) < 0) _exit(126);
    close_range(3, ~0U, 0);
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(path, argv, envp);
    _exit(127);
}
