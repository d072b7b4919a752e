// SPDX-License-Identifier: MIT
// Median wall time of fork+exec+wait of a command, over N runs. Files named with -u are
// unlinked before each run (untimed), so every `apply` writes as it would at boot.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int runs = 300, i = 1;
    const char *unlinks[8];
    int nunlink = 0;
    while (i < argc && argv[i][0] == '-' && argv[i][1] != '-') {
        if (!strcmp(argv[i], "-n")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-u") && nunlink < 8) unlinks[nunlink++] = argv[i + 1];
        i += 2;
    }
    if (i < argc && !strcmp(argv[i], "--")) i++;
    if (i >= argc || runs < 1) { fprintf(stderr, "usage: spawn [-n N] [-u FILE]... -- CMD...\n"); return 2; }
    double *ms = calloc(runs, sizeof *ms);
    for (int r = 0; r < runs; r++) {
        for (int u = 0; u < nunlink; u++) unlink(unlinks[u]);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        pid_t pid = fork();
        if (pid == 0) { if (!freopen("/dev/null", "w", stdout)) _exit(126); execv(argv[i], argv + i); _exit(127); }
        int status;
        waitpid(pid, &status, 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { fprintf(stderr, "%s failed\n", argv[i]); return 1; }
        ms[r] = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    }
    qsort(ms, runs, sizeof *ms, cmp);
    printf("%.3f\n", ms[runs / 2]);
    return 0;
}
