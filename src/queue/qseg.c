/*
 * qseg - segment records: encoding, verification and the raw I/O helpers the
 * queue uses to append and copy them (qseg.h, docs/queue.md).
 */
#include "queue/qseg.h"

#include "core/str.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

uint32_t qseg_crc(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *b = p;
	while (n > 0) {
		uInt k = n > 1u << 30 ? 1u << 30 : (uInt)n;
		crc = (uint32_t)crc32(crc, b, k);
		b += k;
		n -= k;
	}
	return crc;
}

static void qseg_put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t qseg_get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void qseg_header_make(unsigned char out[QSEG_HDR_LEN], const struct qseg_rec *r)
{
	memcpy(out, "RGQR", 4);
	qseg_put32(out + 4, QSEG_TYPE_MSG);
	qseg_put32(out + 8, r->id_len);
	qseg_put32(out + 12, r->env_len);
	qseg_put32(out + 16, (uint32_t)r->data_len);
	qseg_put32(out + 20, (uint32_t)(r->data_len >> 32));
	qseg_put32(out + 24, r->body_crc);
	qseg_put32(out + 28, qseg_crc(0, out, 28));
}

void qseg_trailer_make(unsigned char out[QSEG_TRAILER_LEN], uint32_t body_crc)
{
	memcpy(out, "RGQE", 4);
	qseg_put32(out + 4, body_crc);
}

int qseg_header_parse(const unsigned char in[QSEG_HDR_LEN], struct qseg_rec *r)
{
	if (memcmp(in, "RGQR", 4) != 0 || qseg_get32(in + 28) != qseg_crc(0, in, 28) ||
	    qseg_get32(in + 4) != QSEG_TYPE_MSG)
		return -1;
	r->id_len = qseg_get32(in + 8);
	r->env_len = qseg_get32(in + 12);
	r->data_len = (uint64_t)qseg_get32(in + 16) | (uint64_t)qseg_get32(in + 20) << 32;
	r->body_crc = qseg_get32(in + 24);
	if (r->id_len == 0 || r->id_len > QSEG_ID_MAX || r->env_len > QSEG_ENV_MAX ||
	    r->data_len > (UINT64_C(1) << 40))
		return -1;
	return 0;
}

uint64_t qseg_rec_len(const struct qseg_rec *r)
{
	return QSEG_HDR_LEN + (uint64_t)r->id_len + r->env_len + r->data_len + QSEG_TRAILER_LEN;
}

static int qseg_pread_all(int fd, void *p, size_t n, uint64_t off)
{
	char *b = p;
	while (n > 0) {
		ssize_t k = pread(fd, b, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

int qseg_read(int fd, uint64_t off, uint64_t file_size, struct qseg_rec *r, char *id,
              size_t id_size, struct buf *env, char *err, size_t errlen)
{
	unsigned char hdr[QSEG_HDR_LEN], tr[QSEG_TRAILER_LEN];
	memset(r, 0, sizeof *r);
	if (id_size)
		id[0] = '\0';
	if (file_size - off < QSEG_HDR_LEN || qseg_pread_all(fd, hdr, sizeof hdr, off) < 0) {
		str_format_trunc(err, errlen, "short header");
		return -1;
	}
	if (qseg_header_parse(hdr, r) < 0) {
		memset(r, 0, sizeof *r);
		str_format_trunc(err, errlen, "bad record header");
		return -1;
	}
	if (qseg_rec_len(r) > file_size - off) {
		/* Still say which entry it was when its ID is there. */
		if (file_size - off >= QSEG_HDR_LEN + r->id_len && r->id_len < id_size &&
		    qseg_pread_all(fd, id, r->id_len, off + QSEG_HDR_LEN) == 0)
			id[r->id_len] = '\0';
		str_format_trunc(err, errlen, "record truncated");
		return -1;
	}
	char idb[QSEG_ID_MAX + 1];
	if (qseg_pread_all(fd, idb, r->id_len, off + QSEG_HDR_LEN) < 0) {
		str_format_trunc(err, errlen, "read error");
		return -1;
	}
	uint32_t crc = qseg_crc(0, idb, r->id_len);
	for (uint32_t i = 0; i < r->id_len; i++)
		if (!((idb[i] >= '0' && idb[i] <= '9') || (idb[i] >= 'A' && idb[i] <= 'Z'))) {
			str_format_trunc(err, errlen, "bad queue ID");
			return -1;
		}
	if (r->id_len < id_size) {
		memcpy(id, idb, r->id_len);
		id[r->id_len] = '\0';
	}
	uint64_t pos = off + QSEG_HDR_LEN + r->id_len;
	uint64_t left = (uint64_t)r->env_len + r->data_len;
	uint64_t env_left = r->env_len;
	char chunk[65536];
	while (left > 0) {
		size_t k = left > sizeof chunk ? sizeof chunk : (size_t)left;
		if (qseg_pread_all(fd, chunk, k, pos) < 0) {
			str_format_trunc(err, errlen, "read error");
			return -1;
		}
		crc = qseg_crc(crc, chunk, k);
		if (env && env_left > 0) {
			size_t e = env_left < k ? (size_t)env_left : k;
			if (buf_append(env, chunk, e) < 0) {
				str_format_trunc(err, errlen, "envelope too large");
				return -1;
			}
		}
		env_left = env_left > k ? env_left - k : 0;
		pos += k;
		left -= k;
	}
	if (qseg_pread_all(fd, tr, sizeof tr, pos) < 0) {
		str_format_trunc(err, errlen, "read error");
		return -1;
	}
	if (crc != r->body_crc || memcmp(tr, "RGQE", 4) != 0 || qseg_get32(tr + 4) != crc) {
		str_format_trunc(err, errlen, "checksum mismatch or no END trailer");
		return -1;
	}
	return 0;
}

int qseg_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	const char *b = p;
	while (n > 0) {
		ssize_t k = pwrite(fd, b, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0) {
			errno = EIO;
			return -1;
		}
		b += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

int qseg_copy(int in, uint64_t in_off, int out, int64_t out_off, uint64_t len)
{
	char chunk[65536];
	while (len > 0) {
		size_t k = len > sizeof chunk ? sizeof chunk : (size_t)len;
		if (qseg_pread_all(in, chunk, k, in_off) < 0) {
			if (errno == 0)
				errno = EIO;
			return -1;
		}
		if (out_off >= 0) {
			if (qseg_pwrite_all(out, chunk, k, (uint64_t)out_off) < 0)
				return -1;
			out_off += (int64_t)k;
		} else {
			size_t done = 0;
			while (done < k) {
				ssize_t w = write(out, chunk + done, k - done);
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					return -1;
				done += (size_t)w;
			}
		}
		in_off += k;
		len -= k;
	}
	return 0;
}
