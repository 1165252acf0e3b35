/* bench/udp_push.c — the senders of bench/net.sh's UDP ingest in one process.
 *
 *   udp_push PORT SENDERS LINES    LINES datagrams to 127.0.0.1:PORT, one numbered line of
 *                                  about 100 bytes each, from SENDERS sockets in turn.
 *
 * One process with many sockets rather than a process per sender: the timed section then
 * measures the receiver, not the forking of senders on the same cores. Blocking sends, as
 * fast as the kernel takes them: what the receiver's buffer cannot hold is dropped by the
 * receiver's kernel (counted on its socket), never by the sender. Exit status 1 on error.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: udp_push PORT SENDERS LINES\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int n = atoi(argv[2]);
    long lines = atol(argv[3]);
    if (n < 1 || lines < 0) {
        fprintf(stderr, "udp_push: SENDERS must be at least 1\n");
        return 2;
    }
    int *fd = calloc(n, sizeof *fd);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    for (int i = 0; i < n; i++) {
        fd[i] = socket(AF_INET, SOCK_DGRAM, 0);
        if (fd[i] < 0) {
            perror("socket");
            return 1;
        }
    }
    char buf[160];
    for (long i = 0; i < lines; i++) {
        int len = snprintf(buf, sizeof buf,
                           "%ld 2026-12-07T10:00:00Z host app[%ld]: a line of about a hundred bytes, numbered\n",
                           i, i % n);
        if (sendto(fd[i % n], buf, len, 0, (struct sockaddr *)&addr, sizeof addr) < 0) {
            perror("sendto");
            return 1;
        }
    }
    return 0;
}
