/* The backend registries: every kind opens its backend, and qz_jv_kind lists a table's
 * kinds in order when the kind is unknown. */
#include <string.h>

#include "check.h"
#include "generator.h"
#include "jsonv.h"
#include "scorer.h"

static const struct {
    const char *kind;
    int weight;
} table[] = {{"small", 1}, {"large", 9}, {NULL, 0}};

static void check_kind(const char *json, enum qz_status want, int want_i, const char *message)
{
    struct qz_jv at = {.file = "job.json", .path = "thing"};
    struct qz_error err = {QZ_OK, ""};
    cJSON *spec = cJSON_Parse(json);
    int i = -1;
    enum qz_status rc = qz_jv_kind(&at, spec, table, sizeof *table, &i, &err);

    CHECK(rc == want, "%s: status %d, want %d (%s)", json, rc, want, err.msg);
    if (rc == QZ_OK)
        CHECK(i == want_i && table[i].weight == (want_i ? 9 : 1), "%s: element %d", json, i);
    else
        CHECK(strcmp(err.msg, message) == 0, "%s: message \"%s\", want \"%s\"", json, err.msg,
              message);
    cJSON_Delete(spec);
}

int main(void)
{
    struct qz_jv at = {.file = "job.json", .path = "utility"};
    struct qz_error err = {QZ_OK, ""};
    struct qz_gen gen;
    struct qz_score sc;
    cJSON *spec;

    check_kind("{\"kind\": \"small\"}", QZ_OK, 0, NULL);
    check_kind("{\"kind\": \"large\", \"x\": 1}", QZ_OK, 1, NULL);
    check_kind("{\"kind\": \"medium\"}", QZ_EJOB, 0,
               "job.json: thing.kind: must be one of \"small\", \"large\", got \"medium\"");
    check_kind("{}", QZ_EJOB, 0, "job.json: thing.kind: is required");
    check_kind("[1]", QZ_EJOB, 0, "job.json: thing: must be a JSON object, got [1]");

    /* Several kinds share one backend; each kind reaches the backend that serves it. */
    spec = cJSON_Parse("{\"kind\": \"pareto\", \"scale\": 1, \"shape\": 2}");
    CHECK(qz_gen_open(&gen, spec, &at, 1, &err) == QZ_OK, "pareto: %s", err.msg);
    CHECK(gen.ops == &qz_gen_builtin_ops, "pareto is served by the built-in generator");
    qz_gen_close(&gen);
    cJSON_Delete(spec);
    spec = cJSON_Parse("{\"kind\": \"length\"}");
    CHECK(qz_score_open(&sc, spec, &at, &err) == QZ_OK, "length: %s", err.msg);
    CHECK(sc.ops == &qz_score_length_ops, "length is served by the text length scorer");
    qz_score_close(&sc);
    cJSON_Delete(spec);
    spec = cJSON_Parse("{\"kind\": \"value\"}");
    CHECK(qz_score_open(&sc, spec, &at, &err) == QZ_OK, "value: %s", err.msg);
    CHECK(sc.ops == &qz_score_value_ops, "value is served by the value scorer");
    qz_score_close(&sc);
    cJSON_Delete(spec);
    return check_done("test_registry");
}
