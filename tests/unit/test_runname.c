/* The run-name rule: which names are valid and what is said about the others, the
 * record's run paths (a task's NAME/tasks/ID), and names made from a source run. */
#include <string.h>

#include "check.h"
#include "runname.h"

static void test_problem(void)
{
    char longest[QZ_NAME_MAX + 2];
    static const struct {
        const char *name, *problem;
    } cases[] = {
        {"demo", NULL},
        {"a b.c-d_é", NULL},
        {"...", NULL},
        {"", "must be 1 to 200 characters"},
        {".", "must not be \".\" or \"..\""},
        {"..", "must not be \".\" or \"..\""},
        {"a/b", "must not contain '/' or control characters"},
        {"a\tb", "must not contain '/' or control characters"},
        {"a\x7f", "must not contain '/' or control characters"},
        {"a\xc2\x80"
         "b",
         "must not contain '/' or control characters"},              /* U+0080 (C1) */
        {"a\xc2\x9f", "must not contain '/' or control characters"}, /* U+009F (C1) */
        {"a\xc2\xa0"
         "b",
         NULL}, /* U+00A0: printable */
        {"a\xed\xa0\x80"
         "b",
         "must be valid UTF-8"}, /* a lone surrogate */
        {"a\xff", "must be valid UTF-8"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *p = qz_name_problem(cases[i].name);
        CHECK(cases[i].problem ? p && strcmp(p, cases[i].problem) == 0 : p == NULL,
              "\"%s\": \"%s\", want \"%s\"", cases[i].name, p ? p : "(valid)",
              cases[i].problem ? cases[i].problem : "(valid)");
    }
    memset(longest, 'x', QZ_NAME_MAX);
    longest[QZ_NAME_MAX] = '\0';
    CHECK(qz_name_problem(longest) == NULL, "%d bytes are allowed", QZ_NAME_MAX);
    longest[QZ_NAME_MAX] = 'x';
    longest[QZ_NAME_MAX + 1] = '\0';
    CHECK(qz_name_problem(longest) != NULL, "%d bytes are too many", QZ_NAME_MAX + 1);
}

#define SHAPE                                                                                      \
    "\" cannot be an HDF5 group name (it is empty, \".\", \"..\", has an empty part or contains "  \
    "'/')"

static void test_run_path(void)
{
    static const struct {
        const char *run;
        int nested;
        const char *message; /* NULL: valid */
    } cases[] = {
        {"demo", 0, NULL},
        {"demo/tasks/t1", 1, NULL},
        {"demo", 1, NULL},
        {"demo/tasks/t1", 0, "out.h5: run name \"demo/tasks/t1" SHAPE},
        {"", 0, "out.h5: run name \"" SHAPE},
        {".", 0, "out.h5: run name \"." SHAPE},
        {"a/../b", 1, "out.h5: run name \"a/../b" SHAPE},
        {"a//b", 1, "out.h5: run name \"a//b" SHAPE},
        {"a/tasks/", 1, "out.h5: run name \"a/tasks/" SHAPE},
        {"/a", 1, "out.h5: run name \"/a" SHAPE},
        {"a\nb", 0, "out.h5: run name \"a\nb\" must not contain control characters"},
        {"a/tasks/b\x01", 1,
         "out.h5: run name \"a/tasks/b\x01\" must not contain control characters"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct qz_error err = {QZ_OK, ""};
        enum qz_status rc = qz_run_path_check("out.h5", cases[i].run, cases[i].nested, &err);
        if (!cases[i].message)
            CHECK(rc == QZ_OK, "\"%s\": %s", cases[i].run, err.msg);
        else
            CHECK(rc == QZ_EARGS && strcmp(err.msg, cases[i].message) == 0,
                  "\"%s\": %d \"%s\", want \"%s\"", cases[i].run, rc, err.msg, cases[i].message);
    }
    {
        struct qz_error err = {QZ_OK, ""};
        char run[QZ_NAME_MAX + 16] = "a/tasks/";
        memset(run + 8, 'x', QZ_NAME_MAX + 1);
        run[8 + QZ_NAME_MAX + 1] = '\0';
        CHECK(qz_run_path_check("o", run, 1, &err) == QZ_EARGS &&
                  strstr(err.msg, "\": each part must be 1 to 200 characters"),
              "a part too long: %s", err.msg);
        CHECK(qz_run_path_check("o", NULL, 0, &err) == QZ_EARGS, "no run");
    }
}

static void test_derive(void)
{
    char name[QZ_NAME_MAX + 1], run[400];

    qz_name_derive(name, sizeof name, "demo", "-q%s", "0.1");
    CHECK(strcmp(name, "demo-q0.1") == 0, "got %s", name);
    qz_name_derive(name, sizeof name, "demo/tasks/t1", "-q%s", "1e-05");
    CHECK(strcmp(name, "demo-tasks-t1-q1e-05") == 0, "a task's run: got %s", name);
    CHECK(qz_name_problem(name) == NULL, "derived name %s is valid", name);
    memset(run, 'r', 300);
    run[300] = '\0';
    qz_name_derive(name, sizeof name, run, "-q%s", "0.25");
    CHECK(strlen(name) == QZ_NAME_DERIVE_KEEP + 6 &&
              strcmp(name + QZ_NAME_DERIVE_KEEP, "-q0.25") == 0,
          "a long run is cut to %d bytes: %zu", QZ_NAME_DERIVE_KEEP, strlen(name));
    CHECK(qz_name_problem(name) == NULL, "a long run gives a valid name");
    qz_name_derive(name, 6, "a/b/c/d", "-q%s", "0.5");
    CHECK(strcmp(name, "a-b-c") == 0, "cut to the buffer: got %s", name);
}

int main(void)
{
    test_problem();
    test_run_path();
    test_derive();
    return check_done("test_runname");
}
