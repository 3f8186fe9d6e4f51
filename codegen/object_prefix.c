/*
 * object_prefix.c: renames the entry points of an emitted object file (see object_prefix.h).
 *
 * The object's entry points are always gc_init, gc_step and gc_update (its only global
 * definitions: its kernels are local, codegen/object_file.c); rather than thread a prefix through
 * codegen, the object file's symbol table is rewritten afterwards. The new names go into a copy
 * of the string table appended at the end of the file (a relocatable ELF may hold its sections
 * anywhere), so no existing offset moves: section names and every other symbol keep their
 * strings, and only the renamed symbols' st_name changes.
 */
#include "codegen/object_prefix.h"

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/codegen.h"
#include "runtime/file.h"

static bool is_identifier(const char *s) {
    if (!*s || (*s >= '0' && *s <= '9')) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static int bad_object(const char *path, const char *why, gc_error *err) {
    return gc_failf(err, GC_ERR_INTERNAL, "internal error: %s is not an object file gradc can rename: %s", path, why);
}

/* Renames in the loaded file; *extra receives the appended string table (caller frees). */
static int rename_in(char *buf, size_t len, const char *path, const char *prefix, const char *step, char **extra,
                     size_t *extra_len, gc_error *err) {
    if (len < sizeof(Elf64_Ehdr) || memcmp(buf, ELFMAG, SELFMAG) || buf[EI_CLASS] != ELFCLASS64)
        return bad_object(path, "not ELF64", err);
    Elf64_Ehdr eh;
    memcpy(&eh, buf, sizeof eh);
    if (eh.e_type != ET_REL || eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff > len ||
        (len - eh.e_shoff) / sizeof(Elf64_Shdr) < eh.e_shnum)
        return bad_object(path, "not a relocatable object with section headers", err);
    Elf64_Shdr *sh = malloc(sizeof *sh * (eh.e_shnum ? eh.e_shnum : 1));
    if (!sh) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    memcpy(sh, buf + eh.e_shoff, sizeof *sh * eh.e_shnum);
    int ok = 1, symtab = -1;
    for (int i = 0; i < eh.e_shnum; i++)
        if (sh[i].sh_type == SHT_SYMTAB) symtab = i;
    if (symtab < 0 || sh[symtab].sh_link >= eh.e_shnum || sh[symtab].sh_entsize != sizeof(Elf64_Sym) ||
        sh[symtab].sh_offset > len || sh[symtab].sh_size > len - sh[symtab].sh_offset) {
        free(sh);
        return bad_object(path, "no usable symbol table", err);
    }
    Elf64_Shdr *str = &sh[sh[symtab].sh_link];
    if (str->sh_type != SHT_STRTAB || str->sh_offset > len || str->sh_size > len - str->sh_offset) {
        free(sh);
        return bad_object(path, "no usable string table", err);
    }
    size_t old_size = str->sh_size, cap = old_size + 256, size = old_size;
    char *table = malloc(cap);
    if (!table) {
        free(sh);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    }
    memcpy(table, buf + str->sh_offset, old_size);
    size_t count = sh[symtab].sh_size / sizeof(Elf64_Sym);
    for (size_t k = 0; ok && k < count; k++) {
        Elf64_Sym sym;
        char *at = buf + sh[symtab].sh_offset + k * sizeof sym;
        memcpy(&sym, at, sizeof sym);
        int bind = ELF64_ST_BIND(sym.st_info);
        if ((bind != STB_GLOBAL && bind != STB_WEAK) || sym.st_shndx == SHN_UNDEF || sym.st_name >= old_size) continue;
        const char *name = table + sym.st_name;
        if (!memchr(name, '\0', old_size - sym.st_name) || strncmp(name, "gc_", 3)) continue;
        /* The rest of the name, or the step's own name (gc_step -> <prefix>predict). */
        bool own = step && !strcmp(name, "gc_step");
        size_t need = strlen(prefix) + strlen(own ? step : name + 3) + 1;
        if (size + need > cap) {
            cap = (size + need) * 2;
            char *grown = realloc(table, cap);
            if (!grown) {
                ok = gc_failf(err, GC_ERR_MEMORY, "out of memory");
                break;
            }
            table = grown;
        }
        size_t plen = strlen(prefix);
        memcpy(table + size, prefix, plen);
        memmove(table + size + plen, own ? step : table + sym.st_name + 3, need - plen); /* table may have moved */
        sym.st_name = (Elf64_Word)size;
        size += need;
        memcpy(at, &sym, sizeof sym);
    }
    if (ok) {
        str->sh_offset = len;
        str->sh_size = size;
        memcpy(buf + eh.e_shoff, sh, sizeof *sh * eh.e_shnum);
        *extra = table;
        *extra_len = size;
    } else {
        free(table);
    }
    free(sh);
    return ok;
}

int gc_object_rename_globals(const char *path, const char *prefix, gc_error *err) {
    return gc_object_rename_entry_points(path, prefix, NULL, err);
}

int gc_object_rename_entry_points(const char *path, const char *prefix, const char *step, gc_error *err) {
    if (!prefix || !*prefix) return 1;
    if (step && !is_identifier(step)) return gc_failf(err, GC_ERR_INTERNAL, "internal error: step name '%s' is not a C identifier", step);
    if (!is_identifier(prefix)) return gc_failf(err, GC_ERR_USER, "symbol prefix '%s' is not a C identifier", prefix);
    size_t len = 0;
    char *buf = gc_file_read(path, (size_t)1 << 31, &len, err);
    if (!buf) return 0;
    char *extra = NULL;
    size_t extra_len = 0;
    int ok = rename_in(buf, len, path, prefix, step, &extra, &extra_len, err);
    if (ok) {
        FILE *f = fopen(path, "wb");
        ok = f && fwrite(buf, 1, len, f) == len && fwrite(extra, 1, extra_len, f) == extra_len;
        if (f && fclose(f) != 0) ok = 0;
        if (!ok) gc_failf(err, GC_ERR_IO, "cannot write object file %s", path);
    }
    free(extra);
    free(buf);
    return ok;
}

int gc_codegen_emit_object_prefixed(const gc_graph *g, const char *path, const char *prefix, gc_error *err) {
    return gc_codegen_emit_object_named(g, NULL, path, prefix, NULL, NULL, err);
}

int gc_codegen_emit_object_named(const gc_graph *g, const gc_layout *layout, const char *path, const char *prefix,
                                 const char *step, gc_codegen_times *times, gc_error *err) {
    if (prefix && *prefix && !is_identifier(prefix))
        return gc_failf(err, GC_ERR_USER, "symbol prefix '%s' is not a C identifier", prefix);
    return gc_codegen_emit_object_planned(g, layout, path, times, err) &&
           gc_object_rename_entry_points(path, prefix, step, err);
}
