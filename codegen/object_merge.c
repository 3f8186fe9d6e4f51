/*
 * object_merge.c: several ELF64 relocatable objects as one (what `ld -r` does, for the objects
 * LLVM writes), so an object file can be assembled from kernels compiled alone or read from the
 * kernel cache (object_file.c) without running a linker.
 *
 * Sections of the same name, type and flags are concatenated, each input's at its alignment;
 * symbols are renumbered, a local one moved by its section's offset, and a relocation against a
 * section symbol becomes one against the output section with its addend moved the same way.
 * Globals are resolved by name: an undefined one meets its definition, and two strong
 * definitions are an error. Only the names the caller keeps stay global definitions; every other
 * definition becomes local, so kernels never clash with another object's.
 *
 * Mergeable sections (.rodata.cst32: constants the linker may share) lose their SHF_MERGE flag:
 * a few duplicated constants cost less than getting the linker's merging rules right here.
 * Anything outside what LLVM's ELF writer gives a kernel (COMDAT groups, SHT_REL, common symbols,
 * linked-order sections, another machine) is refused with CG_MERGE_UNSUPPORTED, and the caller
 * builds the object another way.
 */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cg.h"

#ifndef SHT_X86_64_UNWIND
#define SHT_X86_64_UNWIND 0x70000001
#endif
#define SHT_LLVM_ADDRSIG_TYPE 0x6fff4c03u

typedef struct out_section {
    const char *name;
    uint32_t type;
    uint64_t flags, align, size;
    unsigned char *data; /* NULL for SHT_NOBITS */
    size_t cap;
    Elf64_Rela *rela;    /* r_info's symbol is a symbol record until written */
    size_t num_rela, rela_cap;
    int section_symbol;  /* its STT_SECTION record, or -1 */
} out_section;

typedef struct out_symbol {
    const char *name;
    unsigned char info, other;
    int section;       /* output section, or -1 with shndx in `special` */
    uint16_t special;  /* SHN_UNDEF or SHN_ABS when section < 0 */
    uint64_t value, size;
    bool global;       /* else local */
    bool defined;
} out_symbol;

typedef struct merger {
    out_section *secs;
    int num_secs, secs_cap;
    out_symbol *syms;
    int num_syms, syms_cap;
    int *names;        /* open hash of global symbol records by name: record + 1, 0 empty */
    int names_cap;
    gc_error *err;
} merger;

static int unsupported(gc_error *err, const char *what, const char *part) {
    gc_failf(err, GC_ERR_INTERNAL, "internal error: cannot merge object %s: %s", part, what);
    return CG_MERGE_UNSUPPORTED;
}

static int oom(gc_error *err) { return gc_failf(err, GC_ERR_MEMORY, "out of memory"); }

static int grow(void **p, int *cap, int need, size_t size) {
    if (need <= *cap) return 1;
    int c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * size);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

static uint64_t name_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* The slot of global `name`: its record + 1, or 0 at the empty slot where it would go. */
static int *name_slot(merger *m, const char *name) {
    int at = (int)(name_hash(name) & (uint64_t)(m->names_cap - 1));
    while (m->names[at] && strcmp(m->syms[m->names[at] - 1].name, name)) at = (at + 1) & (m->names_cap - 1);
    return &m->names[at];
}

/* Room for `need` globals at most half full; the table is rebuilt from the records. */
static int reserve_names(merger *m, int need) {
    if (m->names_cap >= 2 * need) return 1;
    int cap = m->names_cap ? m->names_cap : 64;
    while (cap < 2 * need) cap *= 2;
    int *names = calloc((size_t)cap, sizeof *names);
    if (!names) return 0;
    free(m->names);
    m->names = names;
    m->names_cap = cap;
    for (int r = 0; r < m->num_syms; r++)
        if (m->syms[r].global) *name_slot(m, m->syms[r].name) = r + 1;
    return 1;
}

static int add_symbol(merger *m, out_symbol sym) {
    if (!grow((void **)&m->syms, &m->syms_cap, m->num_syms + 1, sizeof *m->syms)) return -1;
    m->syms[m->num_syms] = sym;
    return m->num_syms++;
}

/* The output section for an input section of this name, type and flags (merge flags dropped). */
static int section_for(merger *m, const char *name, uint32_t type, uint64_t flags) {
    for (int i = 0; i < m->num_secs; i++)
        if (m->secs[i].type == type && m->secs[i].flags == flags && !strcmp(m->secs[i].name, name)) return i;
    if (!grow((void **)&m->secs, &m->secs_cap, m->num_secs + 1, sizeof *m->secs)) return -1;
    out_section *s = &m->secs[m->num_secs];
    memset(s, 0, sizeof *s);
    s->name = name;
    s->type = type;
    s->flags = flags;
    s->align = 1;
    s->section_symbol = -1;
    return m->num_secs++;
}

/* Appends `size` bytes (NULL for NOBITS) at alignment `align`; returns their offset, or -1. */
static int64_t section_append(out_section *s, const unsigned char *bytes, uint64_t size, uint64_t align) {
    if (align < 1) align = 1;
    if (align > s->align) s->align = align;
    uint64_t at = (s->size + align - 1) / align * align;
    /* An empty part appends nothing (and must not hand memset/memcpy a NULL buffer). */
    if (s->type != SHT_NOBITS && at + size > s->size) {
        if (at + size > s->cap) {
            size_t cap = s->cap ? s->cap : 256;
            while (cap < at + size) cap *= 2;
            unsigned char *data = realloc(s->data, cap);
            if (!data) return -1;
            s->data = data;
            s->cap = cap;
        }
        memset(s->data + s->size, 0, at - s->size);
        if (size) memcpy(s->data + at, bytes, size);
    }
    s->size = at + size;
    return (int64_t)at;
}

static bool little_endian_host(void) {
    uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

typedef struct input {
    const unsigned char *buf;
    size_t len;
    Elf64_Ehdr eh;
    Elf64_Shdr *sh;
    const char *shstr;
    size_t shstr_len;
    int symtab;
    int *sec_out;      /* per input section: output section, -1 when dropped */
    int64_t *sec_off;  /* its offset there */
    int *sym_out;      /* per input symbol: output record, -1 none */
    int64_t *sym_delta; /* added to the addend of a relocation against it */
} input;

static bool in_bounds(const input *in, uint64_t off, uint64_t size) { return off <= in->len && size <= in->len - off; }

static const char *string_at(const char *table, size_t len, uint64_t at) {
    if (at >= len || !memchr(table + at, '\0', len - at)) return NULL;
    return table + at;
}

static int read_input(merger *m, input *in, const cg_object_part *part, const Elf64_Ehdr *first) {
    in->buf = (const unsigned char *)part->data;
    in->len = part->len;
    if (in->len < sizeof in->eh || memcmp(in->buf, ELFMAG, SELFMAG) || in->buf[EI_CLASS] != ELFCLASS64 ||
        in->buf[EI_DATA] != (little_endian_host() ? ELFDATA2LSB : ELFDATA2MSB))
        return unsupported(m->err, "not a native ELF64 object", part->name);
    memcpy(&in->eh, in->buf, sizeof in->eh);
    if (in->eh.e_type != ET_REL || in->eh.e_shentsize != sizeof(Elf64_Shdr) || in->eh.e_shnum == 0 ||
        in->eh.e_shnum >= SHN_LORESERVE || !in_bounds(in, in->eh.e_shoff, (uint64_t)in->eh.e_shnum * sizeof(Elf64_Shdr)) ||
        in->eh.e_shstrndx >= in->eh.e_shnum)
        return unsupported(m->err, "not a relocatable object with section headers", part->name);
    if (first && (in->eh.e_machine != first->e_machine || in->eh.e_flags != first->e_flags))
        return unsupported(m->err, "another machine", part->name);
    int n = in->eh.e_shnum;
    in->sh = malloc(sizeof *in->sh * (size_t)n);
    in->sec_out = malloc(sizeof *in->sec_out * (size_t)n);
    in->sec_off = calloc((size_t)n, sizeof *in->sec_off);
    if (!in->sh || !in->sec_out || !in->sec_off) return oom(m->err);
    memcpy(in->sh, in->buf + in->eh.e_shoff, sizeof *in->sh * (size_t)n);
    for (int i = 0; i < n; i++) {
        in->sec_out[i] = -1;
        if (in->sh[i].sh_type != SHT_NOBITS && in->sh[i].sh_type != SHT_NULL && !in_bounds(in, in->sh[i].sh_offset, in->sh[i].sh_size))
            return unsupported(m->err, "a section outside the file", part->name);
    }
    const Elf64_Shdr *ss = &in->sh[in->eh.e_shstrndx];
    in->shstr = (const char *)in->buf + ss->sh_offset;
    in->shstr_len = ss->sh_size;
    in->symtab = -1;
    for (int i = 0; i < n; i++) {
        if (in->sh[i].sh_type != SHT_SYMTAB) continue;
        if (in->symtab >= 0) return unsupported(m->err, "two symbol tables", part->name);
        in->symtab = i;
    }
    if (in->symtab >= 0) {
        const Elf64_Shdr *st = &in->sh[in->symtab];
        if (st->sh_entsize != sizeof(Elf64_Sym) || st->sh_link >= (uint32_t)n || in->sh[st->sh_link].sh_type != SHT_STRTAB)
            return unsupported(m->err, "an unusable symbol table", part->name);
    }
    return 1;
}

/* Places the input's sections in the output. */
static int place_sections(merger *m, input *in, const char *part) {
    for (int i = 1; i < in->eh.e_shnum; i++) {
        const Elf64_Shdr *sh = &in->sh[i];
        const char *name = string_at(in->shstr, in->shstr_len, sh->sh_name);
        if (!name) return unsupported(m->err, "a section without a name", part);
        switch (sh->sh_type) {
        case SHT_SYMTAB: case SHT_STRTAB: case SHT_RELA: case SHT_LLVM_ADDRSIG_TYPE: continue;
        case SHT_PROGBITS: case SHT_NOBITS: case SHT_NOTE: case SHT_INIT_ARRAY: case SHT_FINI_ARRAY:
        case SHT_PREINIT_ARRAY: case SHT_X86_64_UNWIND: break;
        default: return unsupported(m->err, "a section of an unknown type", part);
        }
        if (sh->sh_flags & (SHF_GROUP | SHF_LINK_ORDER | SHF_TLS | SHF_COMPRESSED))
            return unsupported(m->err, "a grouped, linked-order, TLS or compressed section", part);
        int out = section_for(m, name, sh->sh_type, sh->sh_flags & ~(uint64_t)(SHF_MERGE | SHF_STRINGS));
        if (out < 0) return oom(m->err);
        int64_t at = section_append(&m->secs[out], in->buf + sh->sh_offset, sh->sh_size, sh->sh_addralign);
        if (at < 0) return oom(m->err);
        in->sec_out[i] = out;
        in->sec_off[i] = at;
    }
    return 1;
}

static int place_symbols(merger *m, input *in, const char *part) {
    if (in->symtab < 0) return 1;
    const Elf64_Shdr *st = &in->sh[in->symtab];
    const char *strtab = (const char *)in->buf + in->sh[st->sh_link].sh_offset;
    size_t strtab_len = in->sh[st->sh_link].sh_size;
    size_t count = st->sh_size / sizeof(Elf64_Sym);
    in->sym_out = malloc(sizeof *in->sym_out * (count ? count : 1));
    in->sym_delta = calloc(count ? count : 1, sizeof *in->sym_delta);
    if (!in->sym_out || !in->sym_delta) return oom(m->err);
    if (count) in->sym_out[0] = -1;
    for (size_t k = 1; k < count; k++) {
        Elf64_Sym sym;
        memcpy(&sym, in->buf + st->sh_offset + k * sizeof sym, sizeof sym);
        in->sym_out[k] = -1;
        int type = ELF64_ST_TYPE(sym.st_info), bind = ELF64_ST_BIND(sym.st_info);
        const char *name = string_at(strtab, strtab_len, sym.st_name);
        if (!name) return unsupported(m->err, "a symbol without a name", part);
        if (type == STT_FILE) continue;
        if (type == STT_TLS || type == STT_GNU_IFUNC || type == STT_COMMON)
            return unsupported(m->err, "a TLS, ifunc or common symbol", part);
        int section = -1;
        int64_t shift = 0;
        if (sym.st_shndx != SHN_UNDEF && sym.st_shndx != SHN_ABS) {
            if (sym.st_shndx >= in->eh.e_shnum) return unsupported(m->err, "a symbol in a special section", part);
            section = in->sec_out[sym.st_shndx];
            shift = in->sec_off[sym.st_shndx];
            if (section < 0) continue; /* in a dropped section (.llvm_addrsig): nothing refers to it */
        }
        if (type == STT_SECTION) {
            out_section *s = &m->secs[section];
            if (s->section_symbol < 0) {
                out_symbol rec = {.name = "", .info = ELF64_ST_INFO(STB_LOCAL, STT_SECTION), .section = section, .defined = true};
                if ((s->section_symbol = add_symbol(m, rec)) < 0) return oom(m->err);
            }
            in->sym_out[k] = s->section_symbol;
            in->sym_delta[k] = shift;
            continue;
        }
        out_symbol rec = {.name = name, .info = sym.st_info, .other = sym.st_other, .section = section,
                          .special = section < 0 ? sym.st_shndx : 0, .value = sym.st_value + (uint64_t)shift,
                          .size = sym.st_size, .global = bind != STB_LOCAL, .defined = sym.st_shndx != SHN_UNDEF};
        if (bind == STB_LOCAL) {
            if ((in->sym_out[k] = add_symbol(m, rec)) < 0) return oom(m->err);
            continue;
        }
        if (!*name) return unsupported(m->err, "a global without a name", part);
        if (!reserve_names(m, m->num_syms + 1)) return oom(m->err);
        int *slot = name_slot(m, name);
        if (!*slot) {
            int r = add_symbol(m, rec);
            if (r < 0) return oom(m->err);
            *slot = r + 1;
            in->sym_out[k] = r;
            continue;
        }
        out_symbol *old = &m->syms[*slot - 1];
        in->sym_out[k] = *slot - 1;
        int old_bind = ELF64_ST_BIND(old->info);
        if (rec.defined && old->defined) {
            if (bind == STB_WEAK) continue;
            if (old_bind != STB_WEAK)
                return gc_failf(m->err, GC_ERR_INTERNAL, "internal error: merging objects: %s is defined twice", name);
            *old = rec;
        } else if (rec.defined) {
            *old = rec;
        } else if (!old->defined && bind == STB_GLOBAL) {
            old->info = ELF64_ST_INFO(STB_GLOBAL, ELF64_ST_TYPE(old->info));
        }
    }
    return 1;
}

static int place_relocations(merger *m, input *in, const char *part) {
    for (int i = 1; i < in->eh.e_shnum; i++) {
        const Elf64_Shdr *sh = &in->sh[i];
        if (sh->sh_type == SHT_REL) return unsupported(m->err, "SHT_REL relocations", part);
        if (sh->sh_type != SHT_RELA) continue;
        if (sh->sh_info >= in->eh.e_shnum || (int)sh->sh_link != in->symtab || sh->sh_entsize != sizeof(Elf64_Rela))
            return unsupported(m->err, "an unusable relocation section", part);
        int target = in->sec_out[sh->sh_info];
        if (target < 0) continue; /* relocations of a dropped section */
        out_section *s = &m->secs[target];
        size_t count = sh->sh_size / sizeof(Elf64_Rela);
        size_t syms = in->symtab >= 0 ? in->sh[in->symtab].sh_size / sizeof(Elf64_Sym) : 0;
        if (s->num_rela + count > s->rela_cap) {
            size_t cap = s->rela_cap ? s->rela_cap : 64;
            while (cap < s->num_rela + count) cap *= 2;
            Elf64_Rela *r = realloc(s->rela, cap * sizeof *r);
            if (!r) return oom(m->err);
            s->rela = r;
            s->rela_cap = cap;
        }
        for (size_t k = 0; k < count; k++) {
            Elf64_Rela r;
            memcpy(&r, in->buf + sh->sh_offset + k * sizeof r, sizeof r);
            uint64_t sym = ELF64_R_SYM(r.r_info);
            if (sym >= syms || (sym && in->sym_out[sym] < 0))
                return unsupported(m->err, "a relocation against a symbol it cannot place", part);
            r.r_offset += (uint64_t)in->sec_off[sh->sh_info];
            /* The symbol as a record + 1 (0: none) until the records are numbered. */
            int64_t rec = sym ? in->sym_out[sym] + 1 : 0;
            r.r_addend += sym ? in->sym_delta[sym] : 0;
            r.r_info = ELF64_R_INFO((uint64_t)rec, ELF64_R_TYPE(r.r_info));
            s->rela[s->num_rela++] = r;
        }
    }
    return 1;
}

/* A growable byte buffer for the output file. */
typedef struct bytes {
    unsigned char *data;
    size_t len, cap;
} bytes;

static int put(bytes *b, const void *data, size_t len, size_t align) {
    size_t at = (b->len + align - 1) / align * align;
    if (at + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < at + len) cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) return 0;
        b->data = d;
        b->cap = cap;
    }
    memset(b->data + b->len, 0, at - b->len);
    if (len) memcpy(b->data + at, data, len);
    b->len = at + len;
    return 1;
}

static size_t add_string(bytes *strtab, const char *s, int *ok) {
    size_t at = strtab->len;
    if (!put(strtab, s, strlen(s) + 1, 1)) *ok = 0;
    return at;
}

static int write_output(merger *m, const Elf64_Ehdr *first, char **out, size_t *out_len) {
    /* Symbols: the null one, locals, then globals (the order ELF requires). */
    size_t num_syms = m->num_syms > 0 ? (size_t)m->num_syms : 1;
    int *index = malloc(sizeof *index * num_syms);
    if (!index) return oom(m->err);
    int next = 1;
    for (int pass = 0; pass < 2; pass++)
        for (int r = 0; r < m->num_syms; r++)
            if (m->syms[r].global == (pass == 1)) index[r] = next++;
    int first_global = 1;
    for (int r = 0; r < m->num_syms; r++)
        if (!m->syms[r].global) first_global++;
    int num_rela = 0;
    for (int i = 0; i < m->num_secs; i++) num_rela += m->secs[i].num_rela > 0;
    /* Section headers: null, the merged sections, their relocations, .symtab, .strtab. */
    int shnum = 1 + m->num_secs + num_rela + 2, symtab_ix = 1 + m->num_secs + num_rela, strtab_ix = symtab_ix + 1;
    Elf64_Shdr *sh = calloc((size_t)shnum, sizeof *sh);
    bytes file = {0}, strtab = {0};
    int ok = sh != NULL && put(&strtab, "", 1, 1);
    Elf64_Ehdr eh = *first;
    ok = ok && put(&file, &eh, sizeof eh, 1);
    for (int i = 0; ok && i < m->num_secs; i++) {
        out_section *s = &m->secs[i];
        Elf64_Shdr *h = &sh[1 + i];
        h->sh_name = (Elf64_Word)add_string(&strtab, s->name, &ok);
        h->sh_type = s->type;
        h->sh_flags = s->flags;
        h->sh_addralign = s->align;
        h->sh_size = s->size;
        ok = ok && put(&file, NULL, 0, s->align);
        h->sh_offset = file.len;
        if (s->type != SHT_NOBITS) ok = ok && put(&file, s->data, s->size, 1);
    }
    int rix = 1 + m->num_secs;
    for (int i = 0; ok && i < m->num_secs; i++) {
        out_section *s = &m->secs[i];
        if (!s->num_rela) continue;
        for (size_t k = 0; k < s->num_rela; k++) {
            uint64_t rec = ELF64_R_SYM(s->rela[k].r_info);
            s->rela[k].r_info = ELF64_R_INFO(rec ? (uint64_t)index[rec - 1] : 0, ELF64_R_TYPE(s->rela[k].r_info));
        }
        char name[256];
        snprintf(name, sizeof name, ".rela%s", s->name);
        Elf64_Shdr *h = &sh[rix++];
        h->sh_name = (Elf64_Word)add_string(&strtab, name, &ok);
        h->sh_type = SHT_RELA;
        h->sh_flags = SHF_INFO_LINK;
        h->sh_link = (Elf64_Word)symtab_ix;
        h->sh_info = (Elf64_Word)(1 + i);
        h->sh_entsize = sizeof(Elf64_Rela);
        h->sh_addralign = 8;
        ok = ok && put(&file, NULL, 0, 8);
        h->sh_offset = file.len;
        h->sh_size = s->num_rela * sizeof(Elf64_Rela);
        ok = ok && put(&file, s->rela, h->sh_size, 1);
    }
    /* The symbol table. */
    Elf64_Sym *syms = calloc((size_t)m->num_syms + 1, sizeof *syms);
    ok = ok && syms;
    for (int r = 0; ok && r < m->num_syms; r++) {
        const out_symbol *o = &m->syms[r];
        Elf64_Sym *y = &syms[index[r]];
        y->st_name = *o->name ? (Elf64_Word)add_string(&strtab, o->name, &ok) : 0;
        y->st_info = o->info;
        y->st_other = o->other;
        y->st_shndx = (Elf64_Section)(o->section >= 0 ? 1 + o->section : o->special);
        y->st_value = o->value;
        y->st_size = o->size;
    }
    Elf64_Shdr *h = &sh[symtab_ix];
    if (ok) {
        h->sh_name = (Elf64_Word)add_string(&strtab, ".symtab", &ok);
        h->sh_type = SHT_SYMTAB;
        h->sh_link = (Elf64_Word)strtab_ix;
        h->sh_info = (Elf64_Word)first_global;
        h->sh_entsize = sizeof(Elf64_Sym);
        h->sh_addralign = 8;
        ok = ok && put(&file, NULL, 0, 8);
        h->sh_offset = file.len;
        h->sh_size = ((size_t)m->num_syms + 1) * sizeof(Elf64_Sym);
        ok = ok && put(&file, syms, h->sh_size, 1);
    }
    h = &sh[strtab_ix];
    if (ok) {
        h->sh_name = (Elf64_Word)add_string(&strtab, ".strtab", &ok);
        h->sh_type = SHT_STRTAB;
        h->sh_addralign = 1;
        h->sh_offset = file.len;
        h->sh_size = strtab.len;
        ok = ok && put(&file, strtab.data, strtab.len, 1);
    }
    if (ok) {
        eh.e_shoff = 0;
        ok = put(&file, NULL, 0, 8);
        eh.e_shoff = file.len;
        eh.e_phoff = 0;
        eh.e_phnum = 0;
        eh.e_phentsize = 0;
        eh.e_shnum = (Elf64_Half)shnum;
        eh.e_shstrndx = (Elf64_Half)strtab_ix;
        eh.e_shentsize = sizeof(Elf64_Shdr);
        ok = ok && put(&file, sh, (size_t)shnum * sizeof *sh, 1);
        if (ok) memcpy(file.data, &eh, sizeof eh);
    }
    free(syms);
    free(sh);
    free(strtab.data);
    free(index);
    if (!ok) {
        free(file.data);
        return oom(m->err);
    }
    *out = (char *)file.data;
    *out_len = file.len;
    return 1;
}

int cg_object_merge(const cg_object_part *parts, int num_parts, const char *const *globals, int num_globals,
                    char **out, size_t *out_len, gc_error *err) {
    merger m = {.err = err};
    input *ins = calloc((size_t)(num_parts > 0 ? num_parts : 1), sizeof *ins);
    if (!ins) return oom(err);
    int ok = num_parts > 0 ? 1 : unsupported(err, "no objects", "(none)");
    for (int p = 0; ok == 1 && p < num_parts; p++) {
        ok = read_input(&m, &ins[p], &parts[p], p ? &ins[0].eh : NULL);
        ok = ok == 1 ? place_sections(&m, &ins[p], parts[p].name) : ok;
        ok = ok == 1 ? place_symbols(&m, &ins[p], parts[p].name) : ok;
        ok = ok == 1 ? place_relocations(&m, &ins[p], parts[p].name) : ok;
    }
    /* Only the kept names stay global definitions. */
    for (int r = 0; ok == 1 && r < m.num_syms; r++) {
        out_symbol *s = &m.syms[r];
        if (!s->global || !s->defined) continue;
        bool keep = false;
        for (int k = 0; k < num_globals && !keep; k++) keep = !strcmp(s->name, globals[k]);
        if (!keep) {
            s->global = false;
            s->info = ELF64_ST_INFO(STB_LOCAL, ELF64_ST_TYPE(s->info));
            s->other = STV_DEFAULT;
        }
    }
    if (ok == 1) ok = write_output(&m, &ins[0].eh, out, out_len);
    for (int p = 0; p < num_parts; p++) {
        free(ins[p].sh);
        free(ins[p].sec_out);
        free(ins[p].sec_off);
        free(ins[p].sym_out);
        free(ins[p].sym_delta);
    }
    free(ins);
    for (int i = 0; i < m.num_secs; i++) {
        free(m.secs[i].data);
        free(m.secs[i].rela);
    }
    free(m.secs);
    free(m.syms);
    free(m.names);
    return ok;
}
