// SPDX-License-Identifier: MIT
// Median wall time of fork+exec+wait of commands, over N rounds. With two commands
// (CMD1 -- CMD2) each round runs both, alternating, so both see the same machine state;
// one median per command is printed. Files named with -u are unlinked before each run of
// the last command (untimed), so every `apply` writes as it would at boot. -e N: the exit
// status the last command must give (default 0; `check` of a bad policy gives 1).
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

static double run(char **argv, int expected) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != expected) {
        fprintf(stderr, "%s failed\n", argv[0]);
        exit(1);
    }
    return (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
}

int main(int argc, char **argv) {
    int runs = 300, i = 1, nunlink = 0, expected = 0;
    const char *unlinks[8];
    while (i < argc && argv[i][0] == '-' && argv[i][1] != '-') {
        if (i + 1 >= argc) break;
        if (!strcmp(argv[i], "-n")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-u") && nunlink < 8) unlinks[nunlink++] = argv[i + 1];
        else if (!strcmp(argv[i], "-e")) expected = atoi(argv[i + 1]);
        i += 2;
    }
    if (i < argc && !strcmp(argv[i], "--")) i++;
    if (i >= argc || runs < 1) {
        fprintf(stderr, "usage: spawn [-n N] [-e STATUS] [-u FILE]... -- CMD... [-- CMD2...]\n");
        return 2;
    }
    char **cmds[2] = {argv + i, NULL};
    for (int j = i; j < argc; j++)
        if (!strcmp(argv[j], "--")) { argv[j] = NULL; cmds[1] = argv + j + 1; break; }
    int ncmd = cmds[1] ? 2 : 1;
    double *ms[2] = {calloc(runs, sizeof(double)), calloc(runs, sizeof(double))};
    for (int r = 0; r < runs; r++)
        for (int c = 0; c < ncmd; c++) {
            if (c == ncmd - 1)
                for (int u = 0; u < nunlink; u++) unlink(unlinks[u]);
            ms[c][r] = run(cmds[c], c == ncmd - 1 ? expected : 0);
        }
    for (int c = 0; c < ncmd; c++) {
        qsort(ms[c], runs, sizeof(double), cmp);
        printf(c ? " %.3f" : "%.3f", ms[c][runs / 2]);
    }
    printf("\n");
    return 0;
}
