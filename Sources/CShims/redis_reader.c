#include "cshim_redis.h"
#include <hiredis/hiredis.h>
#include <stdlib.h>

struct cshim_redis_reader {
    redisReader *reader;
    redisReplyObjectFunctions *inner;  // hiredis' defaults, which build redisReply trees
    size_t max_elements, max_bytes;
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

cshim_redis_reader *cshim_redis_reader_create(size_t max_elements, size_t max_bytes) {
    cshim_redis_reader *g = calloc(1, sizeof(*g));
    if (g == NULL) return NULL;
    g->reader = redisReaderCreate();
    if (g->reader == NULL) { free(g); return NULL; }
    g->inner = g->reader->fn;
    g->reader->fn = &guarded_functions;
    g->reader->privdata = g;
    g->max_elements = max_elements;
    g->max_bytes = max_bytes;
    return g;
}

void cshim_redis_reader_free(cshim_redis_reader *g) {
    if (g == NULL) return;
    redisReaderFree(g->reader);
    free(g);
}

static size_t unparsed(const redisReader *r) { return r->len - r->pos; }

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
    // An incomplete reply: what it has produced plus what waits to be parsed (a long bulk
    // string, a line without its end) must stay under the byte limit.
    size_t waiting = unparsed(g->reader);
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
