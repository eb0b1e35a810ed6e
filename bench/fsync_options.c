/*
 * fsync_options - how fast can this disk make 2 KB messages durable? The
 * measurement behind the queue's design (docs/queue.md), kept so it can be
 * repeated on another disk:
 *
 *   naive     per message: temp file, write, fdatasync, rename, fsync dir
 *   seqbatch  a batch of B files, fdatasync each in turn, renames, one dir fsync
 *   pool      the same with the fdatasyncs spread over P threads (jbd2 may
 *             merge their journal commits)
 *   pool2     pool with two files per message (content and envelope)
 *   syncfs    a batch of files, renames, one syncfs()
 *   segment   appends to one file, one fdatasync per batch (what the queue does)
 *
 * build: cc -O2 -o fsync_options bench/fsync_options.c -lpthread
 * usage: fsync_options DIR MODE [N [B [P]]]   (DIR on the disk to measure; emptied by hand)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char fo_buf[2048];
static const char *fo_dir;

static double fo_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int fo_create(int i, const char *pfx)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s%d.tmp", fo_dir, pfx, i);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, fo_buf, sizeof fo_buf) != (ssize_t)sizeof fo_buf) {
		perror(p);
		exit(1);
	}
	return fd;
}

static void fo_rename(int i, const char *pfx)
{
	char a[512], b[512];
	snprintf(a, sizeof a, "%s/%s%d.tmp", fo_dir, pfx, i);
	snprintf(b, sizeof b, "%s/%s%d", fo_dir, pfx, i);
	if (rename(a, b) < 0) {
		perror(a);
		exit(1);
	}
}

static int *fo_fds, fo_n, fo_next;
static pthread_mutex_t fo_mu = PTHREAD_MUTEX_INITIALIZER;

static void *fo_worker(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&fo_mu);
		int k = fo_next++;
		pthread_mutex_unlock(&fo_mu);
		if (k >= fo_n)
			return NULL;
		(void)fdatasync(fo_fds[k]);
	}
}

static void fo_pool_sync(int *fds, int n, int threads)
{
	pthread_t t[64];
	fo_fds = fds;
	fo_n = n;
	fo_next = 0;
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, fo_worker, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: fsync_options DIR MODE [N [B [P]]]\n");
		return 2;
	}
	fo_dir = argv[1];
	const char *mode = argv[2];
	int n = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 2000;
	int b = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 20;
	int p = argc > 5 ? (int)strtol(argv[5], NULL, 10) : 8;
	if (n <= 0 || b <= 0 || b > 256 || p <= 0 || p > 64)
		return 2;
	memset(fo_buf, 'x', sizeof fo_buf);
	int dfd = open(fo_dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0) {
		perror(fo_dir);
		return 1;
	}
	double t0 = fo_now();
	long syncs = 0;
	if (strcmp(mode, "naive") == 0) {
		for (int i = 0; i < n; i++) {
			int fd = fo_create(i, "m");
			(void)fdatasync(fd);
			close(fd);
			fo_rename(i, "m");
			(void)fsync(dfd);
			syncs += 2;
		}
	} else if (strcmp(mode, "seqbatch") == 0 || strcmp(mode, "pool") == 0 ||
	           strcmp(mode, "pool2") == 0 || strcmp(mode, "syncfs") == 0) {
		bool two = strcmp(mode, "pool2") == 0;
		for (int i = 0; i < n; i += b) {
			int fds[512], k = 0;
			for (int j = i; j < i + b && j < n; j++) {
				fds[k++] = fo_create(j, "m");
				if (two)
					fds[k++] = fo_create(j, "e");
			}
			if (strcmp(mode, "seqbatch") == 0)
				for (int x = 0; x < k; x++)
					(void)fdatasync(fds[x]);
			else if (strcmp(mode, "syncfs") != 0)
				fo_pool_sync(fds, k, p);
			for (int x = 0; x < k; x++)
				close(fds[x]);
			for (int j = i; j < i + b && j < n; j++) {
				fo_rename(j, "m");
				if (two)
					fo_rename(j, "e");
			}
			if (strcmp(mode, "syncfs") == 0) {
				(void)syncfs(dfd);
				syncs++;
			} else {
				(void)fsync(dfd);
				syncs += k + 1;
			}
		}
	} else if (strcmp(mode, "segment") == 0) {
		char path[512];
		snprintf(path, sizeof path, "%s/seg", fo_dir);
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd < 0) {
			perror(path);
			return 1;
		}
		for (int i = 0; i < n; i += b) {
			for (int j = i; j < i + b && j < n; j++)
				if (write(fd, fo_buf, sizeof fo_buf) != (ssize_t)sizeof fo_buf)
					return 1;
			(void)fdatasync(fd);
			syncs++;
		}
		close(fd);
	} else {
		fprintf(stderr, "fsync_options: unknown mode %s\n", mode);
		return 2;
	}
	double dt = fo_now() - t0;
	printf("%-9s N=%d B=%d P=%d: %.0f msg/s, %ld syncs\n", mode, n, b, p, n / dt, syncs);
	return 0;
}
