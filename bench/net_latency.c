/* Latency line-in to line-out of a TCP server that echoes lines to its standard output
 * (bench/net.sh part 2), without the Python harness's own noise (a sender spinning on
 * one of the two cores, a reader thread waiting for the GIL).
 *
 *   net_latency PORT RATE SECONDS < server-output
 *
 * A sender thread connects to 127.0.0.1:PORT (TCP_NODELAY) and sends RATE lines a second
 * for SECONDS, paced with clock_nanosleep on absolute deadlines (it sleeps between lines,
 * it does not spin); each line carries the CLOCK_MONOTONIC time taken just before its
 * send(). The main thread reads the server's output on standard input (a pipe) and, for
 * each line, takes the time again just after read() returned it. Both times are taken
 * here, on the same clock, so the figure is the server's: socket in, pipe out, plus the
 * kernel's wake-ups. Prints p50, p99, p99.9 and max in microseconds, and how many lines
 * came back (all of them, or it says so).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port, rate, secs;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void *sender(void *arg) {
    (void)arg;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* The server may still be starting: try for 10 s. */
    int s = -1;
    for (int tries = 0;; tries++) {
        s = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(s, (struct sockaddr *)&a, sizeof a) == 0)
            break;
        close(s);
        if (tries == 1000) {
            perror("connect");
            exit(2);
        }
        usleep(10000);
    }
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    long n = (long)rate * secs;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    char line[64];
    for (long i = 0; i < n; i++) {
        int64_t due = (int64_t)start.tv_sec * 1000000000 + start.tv_nsec + i * (1000000000 / rate);
        struct timespec d = {.tv_sec = due / 1000000000, .tv_nsec = due % 1000000000};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL) != 0) {
        }
        int len = snprintf(line, sizeof line, "%lld payload\n", (long long)now_ns());
        if (send(s, line, len, 0) != len) {
            perror("send");
            exit(2);
        }
    }
    /* Leave the connection open: the reader decides when it is over. */
    return NULL;
}

static int cmp(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: net_latency PORT RATE SECONDS < server-output\n");
        return 2;
    }
    port = atoi(argv[1]);
    rate = atoi(argv[2]);
    secs = atoi(argv[3]);
    long n = (long)rate * secs;
    int64_t *lat = calloc(n, sizeof *lat);
    pthread_t t;
    pthread_create(&t, NULL, sender, NULL);
    static char buf[1 << 16];
    char part[64];
    size_t plen = 0;
    long got = 0;
    while (got < n) {
        ssize_t r = read(0, buf, sizeof buf);
        if (r <= 0)
            break;
        int64_t at = now_ns();
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] != '\n') {
                if (plen < sizeof part - 1)
                    part[plen++] = buf[i];
                continue;
            }
            part[plen] = 0;
            plen = 0;
            if (got < n)
                lat[got++] = at - atoll(part);
        }
    }
    if (got < n)
        printf("  only %ld of %ld lines came back\n", got, n);
    if (got == 0)
        return 2;
    qsort(lat, got, sizeof *lat, cmp);
#define Q(f) (lat[(long)((f) * (got - 1))] / 1000.0)
    printf("  %ld lines at %d/s: p50 %.0f us, p99 %.0f us, p99.9 %.0f us, max %.0f us\n", got,
           rate, Q(0.5), Q(0.99), Q(0.999), lat[got - 1] / 1000.0);
    return 0;
}
