#ifndef INFRAPROBE_CSHIM_REDIS_H
#define INFRAPROBE_CSHIM_REDIS_H

#include <stddef.h>

// A hiredis reply reader that refuses replies beyond fixed limits before allocating for them:
// hiredis 0.14 callocs an array for any declared length up to INT_MAX and buffers a bulk string
// of any declared length until it is complete. hiredis types stay out of this header (they
// belong to the CHiredis module); replies come back as `void *` to a `redisReply`.
typedef struct cshim_redis_reader cshim_redis_reader;

enum {
    CSHIM_REDIS_NEED_MORE = 0,       // no complete reply buffered yet
    CSHIM_REDIS_REPLY = 1,           // *reply holds one reply; free it with freeReplyObject
    CSHIM_REDIS_PROTOCOL_ERROR = -1, // not RESP; cshim_redis_reader_error tells why
    CSHIM_REDIS_TOO_MANY_ELEMENTS = -2,
    CSHIM_REDIS_TOO_MANY_BYTES = -3,
    CSHIM_REDIS_OUT_OF_MEMORY = -4,
    CSHIM_REDIS_STRING_TOO_LONG = -5,  // a bulk string declares more than the byte limit
    CSHIM_REDIS_LINE_TOO_LONG = -6,    // a line (status, error, integer, length) without its end
};

cshim_redis_reader *cshim_redis_reader_create(size_t max_elements, size_t max_bytes, size_t max_line);
void cshim_redis_reader_free(cshim_redis_reader *reader);
/// Copies bytes in; fails only when the reader is already in an error state.
int cshim_redis_reader_feed(cshim_redis_reader *reader, const char *bytes, size_t length);
/// The next complete reply, or why there is none. Errors are sticky.
int cshim_redis_reader_next(cshim_redis_reader *reader, void **reply);
/// Bytes buffered but not yet part of a returned reply (for the unsolicited-data check).
size_t cshim_redis_reader_pending(const cshim_redis_reader *reader);
/// The hiredis message for a protocol error, or "" otherwise.
const char *cshim_redis_reader_error(const cshim_redis_reader *reader);
/// For the limit errors: the declared array length or byte count that broke the limit.
long long cshim_redis_reader_offending_size(const cshim_redis_reader *reader);

#endif
