/* test_lexer.c: tokens, locations, layout rules and lexical errors of the .gm language. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "frontend/lexer.h"

enum { MAX_TOKENS = 1024 };

typedef struct lexed {
    gc_arena *arena;
    gc_token toks[MAX_TOKENS];
    int n;
    int ok;
    gc_error err;
} lexed;

/* Lexes src up to and including EOF (or the first error). */
static lexed *lex_n(const char *src, size_t len) {
    lexed *l = calloc(1, sizeof *l);
    assert_non_null(l);
    l->arena = gc_arena_new();
    gc_lexer lx;
    gc_lexer_init(&lx, src, len, "t.gm", l->arena);
    l->ok = 1;
    while (l->n < MAX_TOKENS) {
        if (!gc_lexer_next(&lx, &l->toks[l->n], &l->err)) {
            l->ok = 0;
            break;
        }
        if (l->toks[l->n++].kind == GC_TOK_EOF) break;
    }
    return l;
}

static lexed *lex(const char *src) { return lex_n(src, strlen(src)); }

static void done(lexed *l) {
    gc_arena_free(l->arena);
    free(l);
}

static void assert_kinds(const lexed *l, const gc_token_kind *kinds, int n) {
    assert_true(l->ok);
    assert_int_equal(l->n, n);
    for (int i = 0; i < n; i++) assert_int_equal(l->toks[i].kind, kinds[i]);
}

static void assert_error(const char *src, size_t len, int line, int col, const char *substring) {
    lexed *l = lex_n(src, len);
    assert_false(l->ok);
    assert_int_equal(l->err.code, GC_ERR_USER);
    assert_string_equal(l->err.file, "t.gm");
    assert_int_equal(l->err.line, line);
    assert_int_equal(l->err.col, col);
    if (!strstr(l->err.message, substring)) fail_msg("message '%s' lacks '%s'", l->err.message, substring);
    done(l);
}

static void test_statement_tokens_and_locations(void **state) {
    (void)state;
    lexed *l = lex("x = linear(h, 4 * dim) as fc  # a comment\n");
    const gc_token_kind kinds[] = {GC_TOK_IDENT, GC_TOK_ASSIGN, GC_TOK_IDENT,   GC_TOK_LPAREN, GC_TOK_IDENT,
                                   GC_TOK_COMMA, GC_TOK_INT,    GC_TOK_STAR,    GC_TOK_IDENT,  GC_TOK_RPAREN,
                                   GC_TOK_KW_AS, GC_TOK_IDENT,  GC_TOK_NEWLINE, GC_TOK_EOF};
    assert_kinds(l, kinds, 14);
    const int cols[] = {1, 3, 5, 11, 12, 13, 15, 17, 19, 22, 24, 27, 42, 1};
    for (int i = 0; i < 14; i++) assert_int_equal(l->toks[i].col, cols[i]);
    assert_int_equal(l->toks[12].line, 1);
    assert_int_equal(l->toks[13].line, 2);
    assert_string_equal(l->toks[2].str, "linear");
    assert_string_equal(l->toks[2].file, "t.gm");
    assert_int_equal(l->toks[6].ival, 4);
    done(l);
}

static void test_numbers(void **state) {
    (void)state;
    lexed *l = lex("128 0.02 3e-4 1E+3 2.5e2 0 1e-400");
    assert_true(l->ok);
    assert_int_equal(l->toks[0].kind, GC_TOK_INT);
    assert_int_equal(l->toks[0].ival, 128);
    assert_int_equal(l->toks[1].kind, GC_TOK_FLOAT);
    assert_true(l->toks[1].fval == 0.02);
    assert_int_equal(l->toks[2].kind, GC_TOK_FLOAT);
    assert_true(l->toks[2].fval == 3e-4);
    assert_true(l->toks[3].fval == 1000.0);
    assert_true(l->toks[4].fval == 250.0);
    assert_int_equal(l->toks[5].kind, GC_TOK_INT);
    assert_int_equal(l->toks[5].ival, 0);
    assert_int_equal(l->toks[6].kind, GC_TOK_FLOAT); /* underflow reads as 0, as in Python */
    assert_true(l->toks[6].fval == 0.0);
    done(l);
    l = lex("9223372036854775807");
    assert_true(l->ok);
    assert_true(l->toks[0].ival == INT64_MAX);
    done(l);
}

static void test_number_errors(void **state) {
    (void)state;
    assert_error("x = 9223372036854775808", 23, 1, 5, "integer literal too large");
    assert_error("x = 1e999", 9, 1, 5, "out of range");
    assert_error("x = 1.", 6, 1, 6, "digit after '.'");
    assert_error("x = 1e+", 7, 1, 6, "exponent");
    assert_error("x = 3abc", 8, 1, 5, "malformed number '3abc'");
    assert_error("x = 1.5.3", 9, 1, 5, "malformed number");
}

/* After `as` digits are path segments: `layer1.0.conv1` is name, dot, 0, dot, name. */
static void test_as_paths(void **state) {
    (void)state;
    lexed *l = lex("y = f(x) as layer1.0.conv1 + 1.0\n");
    const gc_token_kind kinds[] = {GC_TOK_IDENT, GC_TOK_ASSIGN, GC_TOK_IDENT, GC_TOK_LPAREN, GC_TOK_IDENT,
                                   GC_TOK_RPAREN, GC_TOK_KW_AS, GC_TOK_IDENT, GC_TOK_DOT, GC_TOK_INT,
                                   GC_TOK_DOT, GC_TOK_IDENT, GC_TOK_PLUS, GC_TOK_FLOAT, GC_TOK_NEWLINE,
                                   GC_TOK_EOF};
    assert_kinds(l, kinds, 16);
    assert_string_equal(l->toks[9].str, "0");
    assert_int_equal(l->toks[9].ival, 0);
    assert_int_equal(l->toks[9].col, 20);
    done(l);
    /* An index sets the path aside; its `]` resumes it; a newline ends it. */
    l = lex("f(x) as h[1.5].2.0 (1.5)\n2.5");
    const gc_token_kind k2[] = {GC_TOK_IDENT, GC_TOK_LPAREN, GC_TOK_IDENT, GC_TOK_RPAREN, GC_TOK_KW_AS,
                                GC_TOK_IDENT, GC_TOK_LBRACKET, GC_TOK_FLOAT, GC_TOK_RBRACKET, GC_TOK_DOT,
                                GC_TOK_INT, GC_TOK_DOT, GC_TOK_INT, GC_TOK_LPAREN, GC_TOK_FLOAT,
                                GC_TOK_RPAREN, GC_TOK_NEWLINE, GC_TOK_FLOAT, GC_TOK_EOF};
    assert_kinds(l, k2, 19);
    done(l);
    /* Reserved words are names inside a path; `as` itself starts one anywhere. */
    l = lex("f() as in.for 3.0");
    assert_true(l->ok);
    assert_int_equal(l->toks[4].kind, GC_TOK_IDENT);
    assert_int_equal(l->toks[6].kind, GC_TOK_IDENT);
    assert_int_equal(l->toks[7].kind, GC_TOK_FLOAT);
    done(l);
    assert_error("f() as 1.5e3", 12, 1, 10, "'5e3' is not a segment of an 'as' path");
    assert_error("f() as a.1e+3", 13, 1, 10, "'1e+3' is not a segment");
    assert_error("f() as 3abc", 11, 1, 8, "'3abc' is not a segment");
    assert_error("f() as 00", 9, 1, 8, "leading zero (write 0,");
    assert_error("f() as h.007", 12, 1, 10, "'007' has a leading zero (write 7,");
}

static void test_strings(void **state) {
    (void)state;
    lexed *l = lex("\"tanh\" \"a\\\"b\\\\c\\n\\t\" \"caf\xc3\xa9\"");
    assert_true(l->ok);
    assert_int_equal(l->toks[0].kind, GC_TOK_STRING);
    assert_string_equal(l->toks[0].str, "tanh");
    assert_string_equal(l->toks[1].str, "a\"b\\c\n\t");
    assert_int_equal(l->toks[1].str_len, 7);
    assert_string_equal(l->toks[2].str, "caf\xc3\xa9");
    done(l);
    assert_error("s = \"abc\nt = 1", 14, 1, 5, "unterminated string");
    assert_error("s = \"abc", 8, 1, 5, "unterminated string");
    assert_error("s = \"a\\qb\"", 10, 1, 7, "unknown escape");
}

static void test_reserved_words(void **state) {
    (void)state;
    /* (`as` last: the word after it is a path segment, a name even when reserved) */
    lexed *l = lex("const input param def return for in range output train true false none loss f32 as");
    const gc_token_kind kinds[] = {GC_TOK_KW_CONST,  GC_TOK_KW_INPUT, GC_TOK_KW_PARAM, GC_TOK_KW_DEF,
                                   GC_TOK_KW_RETURN, GC_TOK_KW_FOR,   GC_TOK_KW_IN,    GC_TOK_KW_RANGE,
                                   GC_TOK_KW_OUTPUT, GC_TOK_KW_TRAIN, GC_TOK_KW_TRUE,  GC_TOK_KW_FALSE,
                                   GC_TOK_KW_NONE,   GC_TOK_IDENT,    GC_TOK_IDENT,    GC_TOK_KW_AS,
                                   GC_TOK_EOF};
    assert_kinds(l, kinds, 17);
    /* `loss` and dtypes are names, reserved by the checker, not the lexer. */
    assert_string_equal(l->toks[13].str, "loss");
    done(l);
    l = lex("constant inputs _as as_ range2");
    for (int i = 0; i < 5; i++) assert_int_equal(l->toks[i].kind, GC_TOK_IDENT);
    done(l);
}

static void test_operators(void **state) {
    (void)state;
    lexed *l = lex("+ - * / @ < <= > >= == != = , : ( ) [ ] { } .");
    const gc_token_kind kinds[] = {GC_TOK_PLUS,   GC_TOK_MINUS,  GC_TOK_STAR,     GC_TOK_SLASH,    GC_TOK_AT,
                                   GC_TOK_LT,     GC_TOK_LE,     GC_TOK_GT,       GC_TOK_GE,       GC_TOK_EQEQ,
                                   GC_TOK_NE,     GC_TOK_ASSIGN, GC_TOK_COMMA,    GC_TOK_COLON,    GC_TOK_LPAREN,
                                   GC_TOK_RPAREN, GC_TOK_LBRACKET, GC_TOK_RBRACKET, GC_TOK_LBRACE, GC_TOK_RBRACE,
                                   GC_TOK_DOT,    GC_TOK_EOF};
    assert_kinds(l, kinds, 22);
    assert_int_equal(l->toks[6].len, 2);
    done(l);
    l = lex("a<=b");
    const gc_token_kind k2[] = {GC_TOK_IDENT, GC_TOK_LE, GC_TOK_IDENT, GC_TOK_EOF};
    assert_kinds(l, k2, 4);
    done(l);
    assert_error("a ! b", 5, 1, 3, "'!='");
}

/* Newlines end statements except inside ( ) and [ ]; blank and comment lines collapse. */
static void test_newlines(void **state) {
    (void)state;
    lexed *l = lex("\n\n# header\n\na = f(1,\n  2)\n\n\n  # note\nb = [3,\n4]\n");
    const gc_token_kind kinds[] = {GC_TOK_IDENT, GC_TOK_ASSIGN,   GC_TOK_IDENT, GC_TOK_LPAREN,  GC_TOK_INT,
                                   GC_TOK_COMMA, GC_TOK_INT,      GC_TOK_RPAREN, GC_TOK_NEWLINE, GC_TOK_IDENT,
                                   GC_TOK_ASSIGN, GC_TOK_LBRACKET, GC_TOK_INT,   GC_TOK_COMMA,    GC_TOK_INT,
                                   GC_TOK_RBRACKET, GC_TOK_NEWLINE, GC_TOK_EOF};
    assert_kinds(l, kinds, 18);
    assert_int_equal(l->toks[0].line, 5);
    assert_int_equal(l->toks[6].line, 6);
    assert_int_equal(l->toks[6].col, 3);
    assert_int_equal(l->toks[9].line, 10);
    done(l);
    /* Braces do not suppress newlines: blocks are lists of statements. */
    l = lex("{\nx\n}");
    const gc_token_kind k2[] = {GC_TOK_LBRACE, GC_TOK_NEWLINE, GC_TOK_IDENT, GC_TOK_NEWLINE, GC_TOK_RBRACE, GC_TOK_EOF};
    assert_kinds(l, k2, 6);
    done(l);
    /* CRLF line ends and a byte order mark. */
    l = lex("\xEF\xBB\xBFx = 1\r\ny = 2\r\n");
    const gc_token_kind k3[] = {GC_TOK_IDENT, GC_TOK_ASSIGN, GC_TOK_INT,     GC_TOK_NEWLINE,
                                GC_TOK_IDENT, GC_TOK_ASSIGN, GC_TOK_INT,     GC_TOK_NEWLINE, GC_TOK_EOF};
    assert_kinds(l, k3, 9);
    assert_int_equal(l->toks[0].col, 1);
    assert_int_equal(l->toks[4].line, 2);
    done(l);
}

static void test_brackets(void **state) {
    (void)state;
    assert_error("x = f(a]", 8, 1, 8, "']' does not match the '(' at 1:6");
    assert_error("x = a)", 6, 1, 6, "unmatched ')'");
    assert_error("x = f(a,\n  [b,\n", 15, 2, 3, "'[' is never closed");
    char deep[600];
    memset(deep, '(', sizeof deep);
    assert_error(deep, sizeof deep, 1, GC_LEX_MAX_NESTING + 1, "nested too deeply");
}

static void test_bad_bytes(void **state) {
    (void)state;
    assert_error("x = 1\ny = a $ b", 15, 2, 7, "unexpected character '$'");
    assert_error("x = 1\ny = \xff", 11, 2, 5, "invalid UTF-8 byte 0xff");
    assert_error("x = 1 # ok \xc3\xa9 then \xc3\x28", 21, 1, 20, "invalid UTF-8");
    assert_error("x = \"\xed\xa0\x80\"", 9, 1, 6, "invalid UTF-8"); /* a surrogate */
    assert_error("x = \xc0\xaf", 6, 1, 5, "invalid UTF-8");           /* an overlong '/' */
    assert_error("x = 1\0 + 2", 10, 1, 6, "NUL byte");
    assert_error("# comment \0", 11, 1, 11, "NUL byte");
    assert_error("caf\xc3\xa9 = 1", 9, 1, 4, "unexpected character '\xc3\xa9' (U+00E9)");
    assert_error("x = \x01", 5, 1, 5, "control character 0x01");
    /* Valid UTF-8 in comments and strings is fine. */
    lexed *l = lex("# \xe2\x86\x92 arrows \xf0\x9f\x98\x80\ns = \"\xe2\x86\x92\"\n");
    assert_true(l->ok);
    done(l);
}

static void test_name_length(void **state) {
    (void)state;
    char name[GC_LEX_MAX_IDENT + 2];
    memset(name, 'a', sizeof name - 1);
    name[GC_LEX_MAX_IDENT] = '\0';
    lexed *l = lex(name);
    assert_true(l->ok);
    assert_int_equal(l->toks[0].str_len, GC_LEX_MAX_IDENT);
    done(l);
    name[GC_LEX_MAX_IDENT] = 'a';
    name[GC_LEX_MAX_IDENT + 1] = '\0';
    assert_error(name, strlen(name), 1, 1, "name too long (256 bytes");
}

static void test_describe(void **state) {
    (void)state;
    lexed *l = lex("abc\n");
    char buf[64];
    gc_token_describe(&l->toks[0], buf, sizeof buf);
    assert_string_equal(buf, "'abc'");
    gc_token_describe(&l->toks[1], buf, sizeof buf);
    assert_string_equal(buf, "end of line");
    gc_token_describe(&l->toks[2], buf, sizeof buf);
    assert_string_equal(buf, "end of file");
    assert_string_equal(gc_token_kind_name(GC_TOK_LE), "<=");
    done(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statement_tokens_and_locations),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_number_errors),
        cmocka_unit_test(test_as_paths),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_reserved_words),
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_newlines),
        cmocka_unit_test(test_brackets),
        cmocka_unit_test(test_bad_bytes),
        cmocka_unit_test(test_name_length),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
