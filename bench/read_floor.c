/* The floor of searching files already in the page cache: two threads (or READ_THREADS)
 * take the files given in turn, read(2) each into one 256 KiB buffer and scan it with
 * memchr for a byte that is not there, so what is timed is the kernel's copy and one pass
 * over the bytes. Any tool that reads its files (ripgrep does, for a directory) spends at
 * least this; a search on top costs more. Used by bench/files.sh.
 *
 *   cc -O2 -pthread -o read_floor bench/read_floor.c && ./read_floor FILE...
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char **files;
static int nfiles, nthreads = 2;

static void *work(void *arg) {
    long id = (long)arg, found = 0;
    char *buf = malloc(256 * 1024);
    if (!buf) exit(2);
    for (int i = id; i < nfiles; i += nthreads) {
        int fd = open(files[i], O_RDONLY);
        if (fd < 0) { perror(files[i]); exit(2); }
        ssize_t n;
        while ((n = read(fd, buf, 256 * 1024)) > 0)
            for (char *p = buf, *e = buf + n; (p = memchr(p, 1, e - p)); p++) found++;
        if (n < 0) { perror(files[i]); exit(2); }
        close(fd);
    }
    free(buf);
    return (void *)found;
}

int main(int argc, char **argv) {
    const char *t = getenv("READ_THREADS");
    if (t && atoi(t) > 0) nthreads = atoi(t);
    files = argv + 1;
    nfiles = argc - 1;
    pthread_t th[64];
    if (nthreads > 64) nthreads = 64;
    for (long i = 0; i < nthreads; i++) pthread_create(&th[i], 0, work, (void *)i);
    long found = 0;
    for (int i = 0; i < nthreads; i++) {
        void *r;
        pthread_join(th[i], &r);
        found += (long)r;
    }
    printf("%ld\n", found);
    return 0;
}
