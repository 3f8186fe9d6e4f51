/* init.c: names of the initialiser kinds (ir/init.h). */
#include "ir/init.h"

const char *gc_init_kind_name(gc_init_kind kind) {
    static const char *names[] = {"zeros", "ones", "constant", "normal", "uniform", "xavier_uniform",
                                  "xavier_normal", "kaiming_uniform", "kaiming_normal", "trunc_normal", "normal_zero_row"};
    return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}
