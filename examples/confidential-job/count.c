/* Counts lines, words and bytes of a file and writes them as one TSV line: an unmodified program for the
 * example, which knows nothing of enclaves, keys or encryption. */
#include <ctype.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: count IN OUT\n"); return 2; }
    FILE *in = fopen(argv[1], "r");
    if (!in) { perror(argv[1]); return 1; }
    long lines = 0, words = 0, bytes = 0; int c, inword = 0;
    while ((c = fgetc(in)) != EOF) {
        bytes++;
        if (c == '\n') lines++;
        if (isspace(c)) inword = 0; else if (!inword) { inword = 1; words++; }
    }
    fclose(in);
    FILE *out = fopen(argv[2], "w");
    if (!out) { perror(argv[2]); return 1; }
    fprintf(out, "lines\t%ld\nwords\t%ld\nbytes\t%ld\n", lines, words, bytes);
    fclose(out);
    printf("counted %ld bytes\n", bytes);
    return 0;
}
