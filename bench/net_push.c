/* bench/net_push.c — the clients of bench/net.sh's TCP ingest in one process.
 *
 *   net_push PORT FILE...     one connection to 127.0.0.1:PORT per FILE, all open at once,
 *                             each sending its file whole, then closing.
 *
 * One process with non-blocking sockets and poll(2) instead of a socat process per
 * client: with 100 clients the timed section then measures the servers, not the forking
 * of 100 client processes on the same two cores. Exit status 1 on any error.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

struct client {
    int fd;
    const char *data;
    size_t len, done;
};

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: net_push PORT FILE...\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int n = argc - 2;
    struct client *c = calloc(n, sizeof *c);
    struct pollfd *p = calloc(n, sizeof *p);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    for (int i = 0; i < n; i++) {
        int f = open(argv[i + 2], O_RDONLY);
        struct stat st;
        if (f < 0 || fstat(f, &st) < 0) {
            perror(argv[i + 2]);
            return 1;
        }
        c[i].len = st.st_size;
        c[i].data = st.st_size ? mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, f, 0) : "";
        if (c[i].data == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        close(f);
        c[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c[i].fd < 0 || connect(c[i].fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
            perror("connect");
            return 1;
        }
        fcntl(c[i].fd, F_SETFL, O_NONBLOCK);
    }
    int open_clients = n;
    while (open_clients > 0) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if (c[i].fd >= 0) {
                p[k].fd = c[i].fd;
                p[k].events = POLLOUT;
                k++;
            }
        if (poll(p, k, 10000) <= 0) {
            fprintf(stderr, "net_push: no progress in 10 s\n");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (c[i].fd < 0)
                continue;
            size_t left = c[i].len - c[i].done;
            size_t chunk = left < 65536 ? left : 65536;
            ssize_t w = chunk ? write(c[i].fd, c[i].data + c[i].done, chunk) : 0;
            if (w < 0 && errno != EAGAIN) {
                perror("write");
                return 1;
            }
            if (w > 0)
                c[i].done += w;
            if (c[i].done == c[i].len) {
                close(c[i].fd);
                c[i].fd = -1;
                open_clients--;
            }
        }
    }
    return 0;
}
