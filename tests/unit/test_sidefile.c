/* Side-file names: exactly the names users have on disk. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sidefile.h"

static void expect(const char *file, const char *run, enum qz_side kind, const char *want)
{
    char *got = qz_side_path(file, run, kind);
    CHECK(got && strcmp(got, want) == 0, "kind %d of %s, %s: \"%s\", want \"%s\"", (int)kind, file,
          run ? run : "(no run)", got ? got : "(null)", want);
    free(got);
}

int main(void)
{
    expect("demo.h5", "demo", QZ_SIDE_CKPT, "demo.h5.demo.ckpt");
    expect("out/x.h5", "run 1", QZ_SIDE_CKPT, "out/x.h5.run 1.ckpt");
    expect("demo.h5", "demo", QZ_SIDE_STAGING, "demo.h5.demo.samples.tmp");
    expect("demo.h5.demo.samples.tmp", NULL, QZ_SIDE_TEXTS, "demo.h5.demo.samples.tmp.text");
    expect("demo.h5", NULL, QZ_SIDE_LOCK, "demo.h5.lock");
    expect("demo.h5", "ignored", QZ_SIDE_LOCK, "demo.h5.lock");
    expect("demo.h5.tmp.42", NULL, QZ_SIDE_RESERVE, "demo.h5.tmp.42.reserve");
    expect("out/demo.h5", "ignored", QZ_SIDE_RUNS, "out/demo.h5.runs");
    CHECK(qz_side_path("demo.h5", NULL, QZ_SIDE_CKPT) == NULL, "a run's side file needs the run");

    /* The texts of a run's staging file: one name however it is reached. */
    {
        char *staging = qz_side_path("a.h5", "r", QZ_SIDE_STAGING);
        char *texts = staging ? qz_side_path(staging, NULL, QZ_SIDE_TEXTS) : NULL;
        CHECK(texts && strcmp(texts, "a.h5.r.samples.tmp.text") == 0, "texts %s",
              texts ? texts : "(null)");
        free(staging);
        free(texts);
    }
    return check_done("test_sidefile");
}
