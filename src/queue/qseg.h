/*
 * qseg - the segment file format of the spool (docs/queue.md).
 *
 * A segment is an append-only file: the 8-byte magic "RGQSEG01", then
 * records. A record is a 32-byte header, the queue ID, the envelope text
 * (qenv.h), the content, and an 8-byte END trailer:
 *
 *   header   "RGQR" | u32 type (1) | u32 id_len | u32 env_len | u64 data_len
 *            | u32 body_crc | u32 header_crc        (little-endian)
 *   body     id_len + env_len + data_len bytes
 *   trailer  "RGQE" | u32 body_crc
 *
 * body_crc is the CRC-32 (zlib) of the whole body, header_crc that of the
 * header's first 28 bytes. A record is complete only when its header checks,
 * its body has the CRC and the trailer repeats it: a torn append (crash in
 * the middle of a write) is recognised and is never mail (STYLE.md rule 10).
 */
#ifndef RG_QUEUE_QSEG_H
#define RG_QUEUE_QSEG_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

#define QSEG_MAGIC "RGQSEG01"
#define QSEG_MAGIC_LEN 8
#define QSEG_HDR_LEN 32
#define QSEG_TRAILER_LEN 8
#define QSEG_TYPE_MSG 1
#define QSEG_ID_MAX 31
#define QSEG_ENV_MAX (8u * 1024 * 1024)

struct qseg_rec {
	uint32_t id_len, env_len;
	uint64_t data_len;
	uint32_t body_crc;
};

uint32_t qseg_crc(uint32_t crc, const void *p, size_t n);
void qseg_header_make(unsigned char out[QSEG_HDR_LEN], const struct qseg_rec *r);
void qseg_trailer_make(unsigned char out[QSEG_TRAILER_LEN], uint32_t body_crc);
/* Checks magic, type, header CRC and the length limits. 0 or -1. */
int qseg_header_parse(const unsigned char in[QSEG_HDR_LEN], struct qseg_rec *r);
/* Bytes a record takes in the file. */
uint64_t qseg_rec_len(const struct qseg_rec *r);

/* Reads and verifies the record at off of fd (file_size bytes long): id
 * (NUL-terminated, id_size bytes at most) and, when env is not NULL, the
 * envelope text appended to env. 0 complete and intact; -1 torn or corrupt
 * (what in err); the header, when it parsed, is in *r either way. */
int qseg_read(int fd, uint64_t off, uint64_t file_size, struct qseg_rec *r, char *id,
              size_t id_size, struct buf *env, char *err, size_t errlen);

/* Writes n bytes at off, retrying short writes and EINTR. 0 or -1 (errno). */
int qseg_pwrite_all(int fd, const void *p, size_t n, uint64_t off);
/* Copies len bytes from in at in_off to out at out_off (out_off < 0: out's
 * file position). 0 or -1 (errno). */
int qseg_copy(int in, uint64_t in_off, int out, int64_t out_off, uint64_t len);

#endif
