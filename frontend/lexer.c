/* lexer.c: bytes to tokens for the .gm language; see lexer.h for the layout rules. */
#include "frontend/lexer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {
#define X(name, spelling) spelling,
    GC_TOKEN_KINDS(X)
#undef X
};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == GC_TOK_COUNT, "one spelling per token");

static const struct {
    const char *word;
    gc_token_kind kind;
} keywords[] = {
    {"const", GC_TOK_KW_CONST}, {"input", GC_TOK_KW_INPUT},   {"param", GC_TOK_KW_PARAM},
    {"def", GC_TOK_KW_DEF},     {"return", GC_TOK_KW_RETURN}, {"for", GC_TOK_KW_FOR},
    {"in", GC_TOK_KW_IN},       {"range", GC_TOK_KW_RANGE},   {"output", GC_TOK_KW_OUTPUT},
    {"train", GC_TOK_KW_TRAIN}, {"as", GC_TOK_KW_AS},         {"true", GC_TOK_KW_TRUE},
    {"false", GC_TOK_KW_FALSE}, {"none", GC_TOK_KW_NONE},
};

const char *gc_token_kind_name(gc_token_kind kind) {
    return kind >= 0 && kind < GC_TOK_COUNT ? kind_names[kind] : "?";
}

void gc_token_describe(const gc_token *tok, char *buf, size_t cap) {
    switch (tok->kind) {
    case GC_TOK_EOF:
    case GC_TOK_NEWLINE:
        snprintf(buf, cap, "%s", kind_names[tok->kind]);
        return;
    default: {
        /* Long names and strings are cut so the message stays one readable line. */
        int n = tok->len > 40 ? 40 : (int)tok->len;
        snprintf(buf, cap, "'%.*s%s'", n, tok->text, tok->len > 40 ? "..." : "");
        return;
    }
    }
}

void gc_lexer_init(gc_lexer *lx, const char *src, size_t len, const char *file, gc_arena *arena) {
    memset(lx, 0, sizeof *lx);
    lx->src = src;
    lx->len = len;
    lx->line = 1;
    lx->file = file;
    lx->arena = arena;
    lx->at_line_start = true;
    /* A UTF-8 byte order mark is invisible in editors, so columns start after it. */
    if (len >= 3 && !memcmp(src, "\xEF\xBB\xBF", 3)) lx->pos = lx->line_start = 3;
}

int gc_lexer_open_bracket(const gc_lexer *lx, char *ch, int *line, int *col) {
    if (lx->depth == 0) return 0;
    *ch = lx->open[lx->depth - 1].ch;
    *line = lx->open[lx->depth - 1].line;
    *col = lx->open[lx->depth - 1].col;
    return 1;
}

static int col_of(const gc_lexer *lx, size_t pos) { return (int)(pos - lx->line_start) + 1; }

static gc_loc loc_at(const gc_lexer *lx, size_t pos) {
    return (gc_loc){lx->file, lx->line, col_of(lx, pos)};
}

/* Length of the valid UTF-8 sequence at s[0..n) (1 to 4), or 0 if it is not one; rejects overlong
 * forms, surrogates and code points above U+10FFFF as the Unicode standard requires. */
static int utf8_length(const unsigned char *s, size_t n, unsigned *cp) {
    unsigned c = s[0];
    int len;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, min = 0x80, c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, min = 0x800, c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

/* Checks the byte at pos inside a comment or string: NUL and invalid UTF-8 are errors there too.
 * Returns the sequence length, or 0 with err set. */
static int check_text_byte(gc_lexer *lx, size_t pos, gc_error *err) {
    unsigned char c = (unsigned char)lx->src[pos];
    if (c == 0) return gc_fail(err, GC_ERR_USER, loc_at(lx, pos), "NUL byte in source");
    unsigned cp;
    int n = utf8_length((const unsigned char *)lx->src + pos, lx->len - pos, &cp);
    if (!n) return gc_fail(err, GC_ERR_USER, loc_at(lx, pos), "invalid UTF-8 byte 0x%02x", c);
    return n;
}

static int stray_character(gc_lexer *lx, size_t pos, gc_error *err) {
    unsigned char c = (unsigned char)lx->src[pos];
    gc_loc loc = loc_at(lx, pos);
    if (c == 0) return gc_fail(err, GC_ERR_USER, loc, "NUL byte in source");
    if (c >= 0x80) {
        unsigned cp;
        int n = utf8_length((const unsigned char *)lx->src + pos, lx->len - pos, &cp);
        if (!n) return gc_fail(err, GC_ERR_USER, loc, "invalid UTF-8 byte 0x%02x", c);
        return gc_fail(err, GC_ERR_USER, loc, "unexpected character '%.*s' (U+%04X)", n,
                       lx->src + pos, cp);
    }
    if (c < 0x20 || c == 0x7F)
        return gc_fail(err, GC_ERR_USER, loc, "unexpected control character 0x%02x", c);
    return gc_fail(err, GC_ERR_USER, loc, "unexpected character '%c'", c);
}

static bool is_ident_start(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_ident_char(int c) { return is_ident_start(c) || is_digit(c); }

static int peek_byte(const gc_lexer *lx, size_t pos) {
    return pos < lx->len ? (unsigned char)lx->src[pos] : -1;
}

/* Skips blanks, comments and newlines that do not end a statement. Sets *newline when a
 * statement-ending newline was crossed (its position in *nl_pos). */
static int skip_space(gc_lexer *lx, bool *newline, size_t *nl_pos, int *nl_line, gc_error *err) {
    *newline = false;
    while (lx->pos < lx->len) {
        char c = lx->src[lx->pos];
        if (c == ' ' || c == '\t' || c == '\r') {
            lx->pos++;
        } else if (c == '#') {
            while (lx->pos < lx->len && lx->src[lx->pos] != '\n') {
                int n = check_text_byte(lx, lx->pos, err);
                if (!n) return 0;
                lx->pos += (size_t)n;
            }
        } else if (c == '\n') {
            if (lx->depth == 0 && !lx->at_line_start && !*newline) {
                *newline = true;
                *nl_pos = lx->pos;
                *nl_line = lx->line;
            }
            lx->pos++;
            lx->line++;
            lx->line_start = lx->pos;
        } else {
            break;
        }
    }
    return 1;
}

static int lex_number(gc_lexer *lx, gc_token *tok, gc_error *err) {
    size_t start = lx->pos, p = start;
    bool is_float = false;
    while (is_digit(peek_byte(lx, p))) p++;
    if (peek_byte(lx, p) == '.') {
        if (!is_digit(peek_byte(lx, p + 1)))
            return gc_fail(err, GC_ERR_USER, loc_at(lx, p), "expected a digit after '.' in a number");
        is_float = true;
        p++;
        while (is_digit(peek_byte(lx, p))) p++;
    }
    int e = peek_byte(lx, p);
    if (e == 'e' || e == 'E') {
        size_t q = p + 1;
        if (peek_byte(lx, q) == '+' || peek_byte(lx, q) == '-') q++;
        if (!is_digit(peek_byte(lx, q)))
            return gc_fail(err, GC_ERR_USER, loc_at(lx, p), "expected digits in the exponent of a number");
        is_float = true;
        p = q;
        while (is_digit(peek_byte(lx, p))) p++;
    }
    if (is_ident_char(peek_byte(lx, p)) || peek_byte(lx, p) == '.') {
        size_t q = p;
        while (is_ident_char(peek_byte(lx, q)) || peek_byte(lx, q) == '.') q++;
        int n = q - start > 40 ? 40 : (int)(q - start);
        return gc_fail(err, GC_ERR_USER, loc_at(lx, start), "malformed number '%.*s'", n, lx->src + start);
    }
    tok->text = lx->src + start;
    tok->len = p - start;
    if (!is_float) {
        int64_t v = 0;
        for (size_t i = start; i < p; i++) {
            int d = lx->src[i] - '0';
            if (v > (INT64_MAX - d) / 10)
                return gc_fail(err, GC_ERR_USER, loc_at(lx, start),
                               "integer literal too large (the largest is 9223372036854775807)");
            v = v * 10 + d;
        }
        tok->kind = GC_TOK_INT;
        tok->ival = v;
    } else {
        char *copy = gc_arena_strndup(lx->arena, tok->text, tok->len);
        if (!copy) return gc_failf(err, GC_ERR_MEMORY, "out of memory while reading a number");
        errno = 0;
        double v = strtod(copy, NULL);
        if (errno == ERANGE && isinf(v))
            return gc_fail(err, GC_ERR_USER, loc_at(lx, start), "number '%.*s' is out of range",
                           tok->len > 40 ? 40 : (int)tok->len, tok->text);
        tok->kind = GC_TOK_FLOAT;
        tok->fval = v;
    }
    lx->pos = p;
    return 1;
}

/* A number segment of an `as` path: whole digits only, so `layer1.0.conv1` stays a path. Anything
 * glued to the digits (`5e3` in `as 1.5e3`, `0x10`) is an error at the segment, as is a leading
 * zero, since `h.01` would silently differ from `h[1]`'s `h.1`. */
static int lex_path_number(gc_lexer *lx, gc_token *tok, gc_error *err) {
    size_t start = lx->pos, p = start;
    while (is_digit(peek_byte(lx, p))) p++;
    if (is_ident_char(peek_byte(lx, p))) {
        size_t q = p;
        while (is_ident_char(peek_byte(lx, q)) || ((peek_byte(lx, q) == '+' || peek_byte(lx, q) == '-') &&
                                                   (peek_byte(lx, q - 1) == 'e' || peek_byte(lx, q - 1) == 'E')))
            q++;
        int n = q - start > 40 ? 40 : (int)(q - start);
        return gc_fail(err, GC_ERR_USER, loc_at(lx, start),
                       "'%.*s' is not a segment of an 'as' path (a segment is a name or a whole number >= 0)", n,
                       lx->src + start);
    }
    if (p - start > 1 && lx->src[start] == '0') {
        size_t z = start;
        while (z + 1 < p && lx->src[z] == '0') z++;
        return gc_fail(err, GC_ERR_USER, loc_at(lx, start),
                       "the 'as' path segment '%.*s' has a leading zero (write %.*s, as h[i] would name it)",
                       (int)(p - start > 40 ? 40 : p - start), lx->src + start, (int)(p - z > 40 ? 40 : p - z),
                       lx->src + z);
    }
    if (p - start > GC_LEX_MAX_IDENT)
        return gc_fail(err, GC_ERR_USER, loc_at(lx, start), "path segment too long (%zu bytes; the limit is %d)",
                       p - start, GC_LEX_MAX_IDENT);
    tok->kind = GC_TOK_INT;
    tok->text = lx->src + start;
    tok->len = p - start;
    tok->str = gc_arena_strndup(lx->arena, tok->text, tok->len);
    if (!tok->str) return gc_failf(err, GC_ERR_MEMORY, "out of memory while reading a path");
    tok->str_len = tok->len;
    int64_t v = 0;
    for (size_t i = start; i < p && v <= (INT64_MAX - 9) / 10; i++) v = v * 10 + (lx->src[i] - '0');
    tok->ival = v;
    lx->pos = p;
    return 1;
}

static int lex_string(gc_lexer *lx, gc_token *tok, gc_error *err) {
    size_t start = lx->pos, p = start + 1;
    /* Decoded text is never longer than the source slice, so one allocation of that size fits.
     * The slice ends at the first unescaped quote: an escaped one (\") does not end the string. */
    size_t cap = 16, n = 0;
    for (size_t q = p; q < lx->len && lx->src[q] != '"' && lx->src[q] != '\n'; q++, cap++) {
        if (lx->src[q] == '\\' && q + 1 < lx->len && lx->src[q + 1] != '\n') {
            q++;
            cap++;
        }
    }
    char *out = gc_arena_alloc(lx->arena, cap);
    if (!out) return gc_failf(err, GC_ERR_MEMORY, "out of memory while reading a string");
    for (;;) {
        if (p >= lx->len || lx->src[p] == '\n')
            return gc_fail(err, GC_ERR_USER, loc_at(lx, start), "unterminated string");
        char c = lx->src[p];
        if (c == '"') break;
        if (c == '\\') {
            char e = p + 1 < lx->len ? lx->src[p + 1] : '\0';
            char v;
            switch (e) {
            case '"': v = '"'; break;
            case '\\': v = '\\'; break;
            case 'n': v = '\n'; break;
            case 't': v = '\t'; break;
            case 'r': v = '\r'; break;
            default:
                if (p + 1 >= lx->len || e == '\n')
                    return gc_fail(err, GC_ERR_USER, loc_at(lx, start), "unterminated string");
                return gc_fail(err, GC_ERR_USER, loc_at(lx, p),
                               "unknown escape sequence in string (use \\\" \\\\ \\n \\t or \\r)");
            }
            out[n++] = v;
            p += 2;
            continue;
        }
        int k = check_text_byte(lx, p, err);
        if (!k) return 0;
        memcpy(out + n, lx->src + p, (size_t)k);
        n += (size_t)k;
        p += (size_t)k;
    }
    out[n] = '\0';
    tok->kind = GC_TOK_STRING;
    tok->text = lx->src + start;
    tok->len = p + 1 - start;
    tok->str = out;
    tok->str_len = n;
    lx->pos = p + 1;
    return 1;
}

static int lex_ident(gc_lexer *lx, gc_token *tok, gc_error *err) {
    size_t start = lx->pos, p = start;
    while (is_ident_char(peek_byte(lx, p))) p++;
    size_t n = p - start;
    if (n > GC_LEX_MAX_IDENT)
        return gc_fail(err, GC_ERR_USER, loc_at(lx, start), "name too long (%zu bytes; the limit is %d)", n,
                       GC_LEX_MAX_IDENT);
    tok->text = lx->src + start;
    tok->len = n;
    tok->kind = GC_TOK_IDENT;
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0] && lx->path != GC_LEX_PATH_SEGMENT; i++)
        if (strlen(keywords[i].word) == n && !memcmp(keywords[i].word, tok->text, n)) tok->kind = keywords[i].kind;
    tok->str = gc_arena_strndup(lx->arena, tok->text, n);
    if (!tok->str) return gc_failf(err, GC_ERR_MEMORY, "out of memory while reading a name");
    tok->str_len = n;
    lx->pos = p;
    return 1;
}

/* Pushes or pops the bracket stack; a closing bracket must match the innermost open one. A `[`
 * opened right after a path segment (path_index) is an index; *resume_path says its `]` closed it. */
static int track_bracket(gc_lexer *lx, char c, gc_loc loc, bool path_index, bool *resume_path, gc_error *err) {
    *resume_path = false;
    if (c == '(' || c == '[') {
        if (lx->depth == GC_LEX_MAX_NESTING)
            return gc_fail(err, GC_ERR_USER, loc, "brackets nested too deeply (the limit is %d)",
                           GC_LEX_MAX_NESTING);
        lx->open[lx->depth].ch = c;
        lx->open[lx->depth].line = loc.line;
        lx->open[lx->depth].col = loc.col;
        lx->open[lx->depth].in_path = path_index;
        lx->depth++;
        return 1;
    }
    char want = c == ')' ? '(' : '[';
    if (lx->depth == 0) return gc_fail(err, GC_ERR_USER, loc, "unmatched '%c'", c);
    if (lx->open[lx->depth - 1].ch != want)
        return gc_fail(err, GC_ERR_USER, loc, "'%c' does not match the '%c' at %d:%d", c,
                       lx->open[lx->depth - 1].ch, lx->open[lx->depth - 1].line, lx->open[lx->depth - 1].col);
    lx->depth--;
    *resume_path = lx->open[lx->depth].in_path;
    return 1;
}

static int lex_punct(gc_lexer *lx, gc_token *tok, gc_error *err) {
    size_t start = lx->pos;
    char c = lx->src[start];
    int next = peek_byte(lx, start + 1);
    gc_token_kind kind;
    size_t len = 1;
    switch (c) {
    case '+': kind = GC_TOK_PLUS; break;
    case '-': kind = GC_TOK_MINUS; break;
    case '*': kind = GC_TOK_STAR; break;
    case '/': kind = GC_TOK_SLASH; break;
    case '@': kind = GC_TOK_AT; break;
    case ',': kind = GC_TOK_COMMA; break;
    case ':': kind = GC_TOK_COLON; break;
    case '(': kind = GC_TOK_LPAREN; break;
    case ')': kind = GC_TOK_RPAREN; break;
    case '[': kind = GC_TOK_LBRACKET; break;
    case ']': kind = GC_TOK_RBRACKET; break;
    case '{': kind = GC_TOK_LBRACE; break;
    case '}': kind = GC_TOK_RBRACE; break;
    case '.': kind = GC_TOK_DOT; break;
    case '<': kind = next == '=' ? (len = 2, GC_TOK_LE) : GC_TOK_LT; break;
    case '>': kind = next == '=' ? (len = 2, GC_TOK_GE) : GC_TOK_GT; break;
    case '=': kind = next == '=' ? (len = 2, GC_TOK_EQEQ) : GC_TOK_ASSIGN; break;
    case '!':
        if (next != '=') return gc_fail(err, GC_ERR_USER, loc_at(lx, start), "unexpected character '!' (did you mean '!='?)");
        kind = GC_TOK_NE;
        len = 2;
        break;
    default:
        return stray_character(lx, start, err);
    }
    /* Inside a path, `.` asks for the next segment and an index's `[` sets the path aside until its
     * `]`; anything else ends the path. */
    gc_lex_path_state path = lx->path;
    lx->path = path == GC_LEX_PATH_AFTER && c == '.' ? GC_LEX_PATH_SEGMENT : GC_LEX_PATH_NONE;
    if (c == '(' || c == ')' || c == '[' || c == ']') {
        bool resume;
        if (!track_bracket(lx, c, loc_at(lx, start), c == '[' && path == GC_LEX_PATH_AFTER, &resume, err)) return 0;
        if (resume) lx->path = GC_LEX_PATH_AFTER;
    }
    tok->kind = kind;
    tok->text = lx->src + start;
    tok->len = len;
    lx->pos = start + len;
    return 1;
}

int gc_lexer_next(gc_lexer *lx, gc_token *tok, gc_error *err) {
    memset(tok, 0, sizeof *tok);
    tok->file = lx->file;
    bool newline;
    size_t nl_pos = 0;
    int nl_line = 0;
    if (!skip_space(lx, &newline, &nl_pos, &nl_line, err)) return 0;
    if (newline) {
        lx->path = GC_LEX_PATH_NONE;
        /* The newline token sits where the line break was, so "expected ')'" points there. */
        size_t ls = nl_pos;
        while (ls > 0 && lx->src[ls - 1] != '\n') ls--;
        tok->kind = GC_TOK_NEWLINE;
        tok->line = nl_line;
        tok->col = (int)(nl_pos - ls) + 1;
        tok->text = lx->src + nl_pos;
        tok->len = 1;
        lx->at_line_start = true;
        return 1;
    }
    tok->line = lx->line;
    tok->col = col_of(lx, lx->pos);
    if (lx->pos >= lx->len) {
        if (lx->depth > 0) {
            int d = lx->depth - 1;
            return gc_fail(err, GC_ERR_USER, (gc_loc){lx->file, lx->open[d].line, lx->open[d].col},
                           "'%c' is never closed", lx->open[d].ch);
        }
        tok->kind = GC_TOK_EOF;
        tok->text = lx->src + lx->len;
        return 1;
    }
    if (++lx->ntokens > GC_LEX_MAX_TOKENS)
        return gc_fail(err, GC_ERR_USER, loc_at(lx, lx->pos), "model file too large (more than %d tokens)",
                       GC_LEX_MAX_TOKENS);
    lx->at_line_start = false;
    int c = (unsigned char)lx->src[lx->pos];
    if (lx->path == GC_LEX_PATH_SEGMENT && (is_digit(c) || is_ident_start(c))) {
        int ok = is_digit(c) ? lex_path_number(lx, tok, err) : lex_ident(lx, tok, err);
        lx->path = GC_LEX_PATH_AFTER;
        return ok;
    }
    if (lx->path == GC_LEX_PATH_SEGMENT || (lx->path == GC_LEX_PATH_AFTER && c != '.' && c != '['))
        lx->path = GC_LEX_PATH_NONE;
    if (is_digit(c)) return lex_number(lx, tok, err);
    if (is_ident_start(c)) {
        if (!lex_ident(lx, tok, err)) return 0;
        if (tok->kind == GC_TOK_KW_AS) lx->path = GC_LEX_PATH_SEGMENT;
        return 1;
    }
    if (c == '"') return lex_string(lx, tok, err);
    return lex_punct(lx, tok, err);
}
