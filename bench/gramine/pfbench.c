/*
 * bench/gramine-overhead.sh's probe of Gramine's own encrypted mount: run inside gramine-direct, it installs a
 * benchmark key (given in hex on the command line; a throwaway key, not a job's) at /dev/attestation/keys/default,
 * writes SIZE_MIB of deterministic data to an encrypted file on the /outputs mount, reads it back, and prints the
 * seconds each took and a checksum of what it read. With "gen" it writes the same data to a plain host file
 * instead, for Cloister's pf library to encrypt.
 *   pfbench KEYHEX SIZE_MIB FILE        (inside Gramine)     pfbench gen SIZE_MIB FILE   (natively)
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void fill(uint64_t* buf, size_t words, uint64_t* state) {
    for (size_t i = 0; i < words; i++) { /* xorshift64 */
        uint64_t x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        buf[i] = x;
    }
}

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: pfbench KEYHEX|gen SIZE_MIB FILE\n");
        return 2;
    }
    long mib = atol(argv[2]);
    uint64_t* buf = malloc(CHUNK);
    uint64_t state = 0x9e3779b97f4a7c15ULL, sum = 0;
    if (strcmp(argv[1], "gen") != 0) {
        unsigned char key[16];
        for (int i = 0; i < 16; i++)
            sscanf(argv[1] + 2 * i, "%2hhx", &key[i]);
        int k = open("/dev/attestation/keys/default", O_WRONLY);
        if (k < 0 || write(k, key, 16) != 16) {
            perror("/dev/attestation/keys/default");
            return 4;
        }
        close(k);
    }
    double t0 = now();
    int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(argv[3]);
        return 3;
    }
    for (long i = 0; i < mib; i++) {
        fill(buf, CHUNK / 8, &state);
        if (write(fd, buf, CHUNK) != CHUNK) {
            perror("write");
            return 3;
        }
    }
    if (close(fd) != 0) {
        perror("close");
        return 3;
    }
    double t1 = now();
    if (strcmp(argv[1], "gen") == 0)
        return 0;
    fd = open(argv[3], O_RDONLY);
    ssize_t r;
    while ((r = read(fd, buf, CHUNK)) > 0)
        for (size_t i = 0; i < (size_t)r / 8; i++)
            sum += buf[i] * (i + 1);
    close(fd);
    double t2 = now();
    printf("write %.3f read %.3f checksum %016llx\n", t1 - t0, t2 - t1, (unsigned long long)sum);
    return 0;
}
