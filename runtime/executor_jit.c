/* executor_jit.c: the executor interface over the JIT (runtime/jit.h). Empty until codegen
 * provides the JIT; the trainer then reports that the JIT backend is unavailable. */
#include "runtime/executor.h"

const gc_executor_ops *const gc_executor_jit = NULL;
