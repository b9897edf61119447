#include "cshim_redis.h"
#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdlib.h>

struct cshim_redis_reader {
    redisReader *reader;
    redisReplyObjectFunctions *inner;  // hiredis' defaults, which build redisReply trees
    size_t max_elements, max_bytes, max_line;
    size_t elements, string_bytes;     // of the reply being parsed
    int failure;                       // one of the CSHIM_REDIS_* errors, sticky
    long long offending_size;
};

static int refuse(cshim_redis_reader *g, int failure, long long size) {
    g->failure = failure;
    g->offending_size = size;
    return failure;
}

// A NULL from these makes hiredis give up on the reply (as out of memory) and free what it
// built so far; `failure` records the real cause.
static void *guarded_string(const redisReadTask *task, char *str, size_t len) {
    cshim_redis_reader *g = task->privdata;
    if (len > g->max_bytes - g->string_bytes) {
        refuse(g, CSHIM_REDIS_TOO_MANY_BYTES, (long long)len);
        return NULL;
    }
    g->string_bytes += len;
    return g->inner->createString(task, str, len);
}

static void *guarded_array(const redisReadTask *task, int elements) {
    cshim_redis_reader *g = task->privdata;
    if (elements > 0 && (size_t)elements > g->max_elements - g->elements) {
        refuse(g, CSHIM_REDIS_TOO_MANY_ELEMENTS, elements);
        return NULL;
    }
    if (elements > 0) g->elements += (size_t)elements;
    return g->inner->createArray(task, elements);
}

static void *guarded_integer(const redisReadTask *task, long long value) {
    cshim_redis_reader *g = task->privdata;
    return g->inner->createInteger(task, value);
}

static void *guarded_nil(const redisReadTask *task) {
    cshim_redis_reader *g = task->privdata;
    return g->inner->createNil(task);
}

static redisReplyObjectFunctions guarded_functions = {
    guarded_string, guarded_array, guarded_integer, guarded_nil, freeReplyObject,
};

cshim_redis_reader *cshim_redis_reader_create(size_t max_elements, size_t max_bytes, size_t max_line) {
    cshim_redis_reader *g = calloc(1, sizeof(*g));
    if (g == NULL) return NULL;
    g->reader = redisReaderCreate();
    if (g->reader == NULL) { free(g); return NULL; }
    g->inner = g->reader->fn;
    g->reader->fn = &guarded_functions;
    g->reader->privdata = g;
    g->max_elements = max_elements;
    g->max_bytes = max_bytes;
    g->max_line = max_line;
    return g;
}

void cshim_redis_reader_free(cshim_redis_reader *g) {
    if (g == NULL) return;
    redisReaderFree(g->reader);
    free(g);
}

static size_t unparsed(const redisReader *r) { return r->len - r->pos; }

// When the parser waits for the rest of a bulk string, its declared length ("$<len>\r\n", the
// '$' already consumed); -1 when that is not what it waits for. hiredis would buffer any
// length (and its `len + 2` overflows near LLONG_MAX), so the length is judged here first.
static long long declared_bulk_length(const redisReader *r) {
    if (r->ridx < 0 || r->rstack[r->ridx].type != REDIS_REPLY_STRING) return -1;
    const char *p = r->buf + r->pos;
    size_t n = unparsed(r), i = 0;
    long long value = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        if (value > (LLONG_MAX - 9) / 10) return LLONG_MAX;
        value = value * 10 + (p[i] - '0');
    }
    if (i == 0 || i == n || p[i] != '\r') return -1;
    return value;
}

int cshim_redis_reader_feed(cshim_redis_reader *g, const char *bytes, size_t length) {
    if (g->failure) return g->failure;
    if (redisReaderFeed(g->reader, bytes, length) != REDIS_OK) return refuse(g, CSHIM_REDIS_OUT_OF_MEMORY, 0);
    return CSHIM_REDIS_NEED_MORE;
}

int cshim_redis_reader_next(cshim_redis_reader *g, void **reply) {
    *reply = NULL;
    if (g->failure) return g->failure;
    if (redisReaderGetReply(g->reader, reply) != REDIS_OK) {
        if (g->failure) return g->failure;
        return refuse(g, g->reader->err == REDIS_ERR_OOM ? CSHIM_REDIS_OUT_OF_MEMORY : CSHIM_REDIS_PROTOCOL_ERROR, 0);
    }
    if (*reply != NULL) {
        g->elements = 0;
        g->string_bytes = 0;
        return CSHIM_REDIS_REPLY;
    }
    long long declared = declared_bulk_length(g->reader);
    if (declared >= 0 && (unsigned long long)declared > g->max_bytes - g->string_bytes) {
        redisReaderFree(g->reader);
        g->reader = NULL;
        return refuse(g, CSHIM_REDIS_STRING_TOO_LONG, declared);
    }
    size_t waiting = unparsed(g->reader);
    // Anything else it waits for is the end of a line (status, error, integer or a length).
    // hiredis rescans an unfinished line from its start on every read, so a long one costs
    // CPU quadratically: lines get a limit of their own.
    if (declared < 0 && waiting > g->max_line) {
        redisReaderFree(g->reader);
        g->reader = NULL;
        return refuse(g, CSHIM_REDIS_LINE_TOO_LONG, (long long)waiting);
    }
    // What the reply has produced plus what waits to be parsed must stay under the byte limit.
    if (waiting > g->max_bytes - g->string_bytes) {
        redisReaderFree(g->reader);
        g->reader = NULL;
        return refuse(g, CSHIM_REDIS_TOO_MANY_BYTES, (long long)(waiting + g->string_bytes));
    }
    return CSHIM_REDIS_NEED_MORE;
}

size_t cshim_redis_reader_pending(const cshim_redis_reader *g) {
    return g->reader ? unparsed(g->reader) : 0;
}

const char *cshim_redis_reader_error(const cshim_redis_reader *g) {
    return (g->failure == CSHIM_REDIS_PROTOCOL_ERROR && g->reader) ? g->reader->errstr : "";
}

long long cshim_redis_reader_offending_size(const cshim_redis_reader *g) { return g->offending_size; }
