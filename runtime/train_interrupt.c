/* train_interrupt.c: a clean stop of a training run on SIGINT/SIGTERM; see train_interrupt.h. */
#include "runtime/train_interrupt.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t first_signal;
static struct sigaction previous[2];
static int installed[2];
static const int handled[2] = {SIGINT, SIGTERM};

/* Only async-signal-safe calls: the second signal takes its default action (the process ends
 * as killed by it, so a shell sees 130 or 143). */
static void on_signal(int sig) {
    if (first_signal) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    first_signal = sig;
}

void gc_train_interrupt_install(void) {
    first_signal = 0;
    for (int k = 0; k < 2; k++) {
        if (installed[k]) continue;
        struct sigaction old;
        if (sigaction(handled[k], NULL, &old) != 0 || old.sa_handler == SIG_IGN) continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART; /* reads of data and writes of the log go on */
        if (sigaction(handled[k], &sa, &previous[k]) == 0) installed[k] = 1;
    }
}

int gc_train_interrupted(void) { return first_signal; }

void gc_train_interrupt_uninstall(void) {
    for (int k = 0; k < 2; k++)
        if (installed[k]) {
            sigaction(handled[k], &previous[k], NULL);
            installed[k] = 0;
        }
}

/* Appends s to buf (capacity cap, length *len), single-quoted when it holds anything a shell
 * would read specially. */
static void append_word(char *buf, size_t cap, size_t *len, const char *s) {
    int plain = *s != '\0';
    for (const char *c = s; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=:,+-@%", *c)) plain = 0;
    if (*len) buf[(*len)++] = ' ';
    if (plain) {
        memcpy(buf + *len, s, strlen(s));
        *len += strlen(s);
    } else {
        buf[(*len)++] = '\'';
        for (const char *c = s; *c; c++) {
            if (*c == '\'') {
                memcpy(buf + *len, "'\\''", 4);
                *len += 4;
            } else {
                buf[(*len)++] = *c;
            }
        }
        buf[(*len)++] = '\'';
    }
    buf[*len] = '\0';
    (void)cap;
}

/* 1 (+1 when the value is the next word) when argv[i] is one of the flags a resume replaces. */
static int replaced_flag(int argc, char *const *argv, int i) {
    static const char *const flags[] = {"--resume", "--init", "--steps", "--epochs"};
    for (int k = 0; k < 4; k++) {
        size_t n = strlen(flags[k]);
        if (strncmp(argv[i], flags[k], n)) continue;
        if (argv[i][n] == '=') return 1;
        if (argv[i][n] == '\0') return i + 1 < argc ? 2 : 1;
    }
    return 0;
}

char *gc_train_resume_command(int argc, char *const *argv, const char *checkpoint, int add_save, int64_t remaining) {
    char steps[32];
    snprintf(steps, sizeof steps, "%lld", (long long)remaining);
    size_t cap = strlen(checkpoint) * 8 + 96;
    for (int i = 0; i < argc; i++) cap += strlen(argv[i]) * 4 + 3;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < argc;) {
        int skip = i > 0 ? replaced_flag(argc, argv, i) : 0;
        if (skip) {
            i += skip;
            continue;
        }
        append_word(buf, cap, &len, argv[i++]);
    }
    append_word(buf, cap, &len, "--resume");
    append_word(buf, cap, &len, checkpoint);
    if (add_save) {
        append_word(buf, cap, &len, "--save");
        append_word(buf, cap, &len, checkpoint);
    }
    append_word(buf, cap, &len, "--steps");
    append_word(buf, cap, &len, steps);
    return buf;
}

char *gc_train_interrupt_path(const char *log_path) {
    const char *name = "interrupted.safetensors";
    const char *slash = log_path ? strrchr(log_path, '/') : NULL;
    size_t dir = slash ? (size_t)(slash - log_path) + 1 : 0;
    char *path = malloc(dir + strlen(name) + 1);
    if (!path) return NULL;
    memcpy(path, log_path ? log_path : "", dir);
    strcpy(path + dir, name);
    return path;
}
