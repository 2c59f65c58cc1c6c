/* A tiny test program for pipeline steps: tag NAME SLEEP_MS OUT...
 * Writes to each OUT the concatenation of every file in /inputs (in name order) followed by "NAME\n",
 * after sleeping SLEEP_MS milliseconds (so that parallel steps overlap visibly). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int copy(const char *path, FILE *out) {
    FILE *in = fopen(path, "rb");
    if (!in) { perror(path); return 1; }
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    fclose(in);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: tag NAME SLEEP_MS OUT...\n"); return 2; }
    long ms = atol(argv[2]);
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    struct dirent **names;
    int n = scandir("/inputs", &names, NULL, alphasort);
    if (n < 0) n = 0;
    for (int o = 3; o < argc; o++) {
        FILE *out = fopen(argv[o], "wb");
        if (!out) { perror(argv[o]); return 3; }
        for (int i = 0; i < n; i++) {
            if (names[i]->d_name[0] == '.') continue;
            char p[4096];
            snprintf(p, sizeof p, "/inputs/%s", names[i]->d_name);
            if (copy(p, out)) return 4;
        }
        fprintf(out, "%s\n", argv[1]);
        fclose(out);
    }
    printf("%s wrote %d output(s)\n", argv[1], argc - 3);
    return 0;
}
