/*
 * train_xor.c: the gradc C API end to end, on the smallest problem that needs a hidden layer.
 *
 * A two-layer network learns exclusive or from its four examples: the model is a string compiled
 * at run time (gc_model_load_string), the trainer runs on the JIT when this gradc has one and on
 * the interpreter otherwise, the program feeds the batch, trains, evaluates, saves a checkpoint
 * and loads it into a second trainer to show that the saved state is the trained state.
 * Every failure is reported from the gc_error the call filled; nothing here can crash on a
 * mistake in the model or the arguments.
 *
 * usage: train_xor [--steps N] [--hidden N] [--backend jit|interp] [--save FILE.safetensors]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gradc/gradc.h>

/* `hidden` is a const so the program can override it with gc_model_set_const. */
static const char *xor_model =
    "# xor.gm: exclusive or, four examples in one batch.\n"
    "const hidden = 8\n"
    "input x: f32[4, 2]\n"
    "input y: i32[4]\n"
    "h = tanh(linear(x, hidden) as fc1)\n"
    "logits = linear(h, 2) as fc2\n"
    "loss = cross_entropy(logits, y)\n"
    "output accuracy = accuracy(logits, y)\n"
    "train {\n"
    "    optimizer = adam(lr=0.05)\n"
    "    seed = 7\n"
    "}\n";

static const float xs[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
static const int32_t ys[4] = {0, 1, 1, 0};

/* Prints an error the way a compiler does: file:line:col when the error has a place. */
static int report(const char *what, const gc_error *err) {
    if (err->line > 0)
        fprintf(stderr, "train_xor: %s: %s:%d:%d: %s\n", what, err->file, err->line, err->col, err->message);
    else
        fprintf(stderr, "train_xor: %s: %s\n", what, err->message);
    return 0;
}

/* Compiles the model for the chosen backend; the model can be freed once the trainer exists. */
static gc_trainer *make_trainer(long hidden, gc_backend backend, gc_error *err) {
    gc_model *model = gc_model_load_string(xor_model, "xor.gm", err);
    if (!model) return report("loading the model", err), NULL;
    if (!gc_model_set_const(model, "hidden", (double)hidden, err)) {
        gc_model_free(model);
        return report("setting hidden", err), NULL;
    }
    gc_options opts = {.backend = backend, .threads = 1, .skip_nonfinite = 0};
    gc_trainer *t = gc_trainer_new(model, &opts, err);
    gc_model_free(model);
    if (!t) return report("compiling the model", err), NULL;
    if (!gc_trainer_set_input(t, "x", xs, sizeof xs, err) || !gc_trainer_set_input(t, "y", ys, sizeof ys, err)) {
        report("setting the inputs", err);
        gc_trainer_free(t);
        return NULL;
    }
    return t;
}

/* The scalar output `accuracy` after the last step or eval. */
static int accuracy(gc_trainer *t, float *out, gc_error *err) {
    gc_tensor v;
    if (!gc_trainer_output(t, "accuracy", &v, err)) return report("reading accuracy", err);
    if (v.dtype != GC_F32 || v.rank != 0) {
        fprintf(stderr, "train_xor: accuracy is not an f32 scalar\n");
        return 0;
    }
    *out = *(const float *)v.data;
    return 1;
}

static int train(long steps, long hidden, gc_backend backend, const char *save_path) {
    gc_error err = {0};
    gc_trainer *t = make_trainer(hidden, backend, &err);
    if (!t) return 0;
    int ok = 1;
    const char *name;
    gc_tensor type;
    for (int i = 0; gc_trainer_input_info(t, i, &name, &type); i++)
        printf("input %s: %s, rank %d, first dim %lld\n", name, type.dtype == GC_I32 ? "i32" : "f32", type.rank,
               (long long)type.shape[0]);

    float loss = 0, acc = 0;
    for (long s = 1; ok && s <= steps; s++) {
        ok = gc_trainer_step(t, &loss, &err) || report("training", &err);
        if (ok && (s == 1 || s % 25 == 0 || s == steps)) printf("step %ld loss %.6f\n", s, loss);
    }
    ok = ok && (gc_trainer_eval(t, &loss, &err) || report("evaluating", &err)) && accuracy(t, &acc, &err);
    if (ok) printf("eval loss %.6f accuracy %.2f after %lld steps\n", loss, acc, (long long)gc_trainer_steps(t));

    ok = ok && (gc_trainer_save(t, save_path, &err) || report("saving", &err));
    if (ok) printf("saved %s\n", save_path);

    /* A fresh trainer starts from train.seed's initialisation; loading the checkpoint must bring
     * back the trained parameters, optimizer state and step count. */
    gc_trainer *again = ok ? make_trainer(hidden, backend, &err) : NULL;
    float reloaded = 0;
    ok = again && (gc_trainer_load(again, save_path, &err) || report("loading", &err)) &&
         (gc_trainer_eval(again, &reloaded, &err) || report("evaluating the reloaded trainer", &err));
    if (ok) {
        printf("reloaded eval loss %.6f at step %lld\n", reloaded, (long long)gc_trainer_steps(again));
        if (reloaded != loss || gc_trainer_steps(again) != gc_trainer_steps(t)) {
            fprintf(stderr, "train_xor: the reloaded trainer differs from the saved one\n");
            ok = 0;
        }
    }
    gc_trainer_free(again);
    gc_trainer_free(t);
    return ok;
}

static int parse_count(const char *flag, const char *text, long *out) {
    char *end;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text || *end || v < 1 || v > 1000000) {
        fprintf(stderr, "train_xor: %s needs a positive whole number\n", flag);
        return 0;
    }
    *out = v;
    return 1;
}

int main(int argc, char **argv) {
    long steps = 200, hidden = 8;
    gc_backend backend = gc_backend_available(GC_BACKEND_JIT) ? GC_BACKEND_JIT : GC_BACKEND_INTERP;
    const char *save_path = "xor.safetensors";
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--steps")) {
            if (!parse_count("--steps", value, &steps)) return 1;
        } else if (!strcmp(argv[i], "--hidden")) {
            if (!parse_count("--hidden", value, &hidden)) return 1;
        } else if (!strcmp(argv[i], "--backend") && value && !strcmp(value, "jit")) {
            backend = GC_BACKEND_JIT;
        } else if (!strcmp(argv[i], "--backend") && value && !strcmp(value, "interp")) {
            backend = GC_BACKEND_INTERP;
        } else if (!strcmp(argv[i], "--save") && value) {
            save_path = value;
        } else {
            fprintf(stderr, "usage: train_xor [--steps N] [--hidden N] [--backend jit|interp] [--save FILE]\n");
            return 1;
        }
        i++;
    }
    printf("gradc %s, backend %s\n", GC_VERSION_STRING, backend == GC_BACKEND_JIT ? "jit" : "interp");
    return train(steps, hidden, backend, save_path) ? 0 : 1;
}
