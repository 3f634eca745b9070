/* test_engine.c: execution, caching, freeing, interrupt and errors, observed through the
 * public API and the event stream, with test node types registered in-process. */
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "loom/loom.h"

/* ---- test nodes: counters record what ran and what was freed -------------------- */

static int n_load, n_sample, n_save, n_destroyed;
static uint64_t last_seed;
static bool producer_freed_before_output;

static void destroy_blob(void *p)
{
    free(p);
    n_destroyed++;
}

static int load_exec(loom_node_ctx *ctx)
{
    n_load++;
    return loom_out(ctx, 0, loom_value_object("BLOB", malloc(16), destroy_blob, 16));
}

static int load_fingerprint(loom_node_ctx *ctx, char *buf, size_t cap)
{
    snprintf(buf, cap, "file-v1:%s", loom_in_str(ctx, "name"));
    return LOOM_OK;
}

static int sample_exec(loom_node_ctx *ctx)
{
    n_sample++;
    last_seed = loom_in_u64(ctx, "seed");
    if (!loom_in_object(ctx, "blob", "BLOB"))
        return loom_node_fail(ctx, "no blob");
    for (int i = 1; i <= loom_in_int(ctx, "steps"); i++) {
        int rc = loom_progress(ctx, i, loom_in_int(ctx, "steps"));
        if (rc)
            return rc;
    }
    if (loom_in_int(ctx, "steps") == 13)
        return loom_node_fail(ctx, "unlucky number of steps: %d", 13);
    if (loom_in_int(ctx, "steps") == 14)
        last_seed = (uint64_t)loom_in_int(ctx, "stpes");     /* a typo the engine must catch */
    return loom_out(ctx, 0, loom_value_object("BLOB", malloc(8), destroy_blob, 8));
}

static int save_exec(loom_node_ctx *ctx)
{
    n_save++;
    producer_freed_before_output = n_destroyed > 0;
    return loom_ui_file(ctx, "images", "x_00001_.png", "", "output");
}

static const loom_input load_in[] = {{.name = "name", .type = LOOM_T_STRING}};
static const loom_input sample_in[] = {
    {.name = "blob", .type = "BLOB"},
    {.name = "seed", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE, .min = 0,
     .max = 18446744073709551615.0},
    {.name = "steps", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE, .def = 4, .min = 1, .max = 100},
    {.name = "mode", .type = LOOM_T_COMBO, .choices = (const char *const[]){"a", "b", NULL},
     .def_str = "a"},
    {.name = "cfg", .type = LOOM_T_FLOAT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_OPTIONAL,
     .min = 0, .max = 100}};
static const loom_input save_in[] = {{.name = "blob", .type = "BLOB"}};
static const loom_output blob_out[] = {{.type = "BLOB"}};

static const loom_node_type test_nodes[] = {
    {.name = "TestLoad", .inputs = load_in, .n_inputs = 1, .outputs = blob_out, .n_outputs = 1,
     .execute = load_exec, .fingerprint = load_fingerprint},
    {.name = "TestSample", .inputs = sample_in, .n_inputs = LOOM_COUNT(sample_in),
     .outputs = blob_out, .n_outputs = 1, .execute = sample_exec},
    {.name = "TestSave", .inputs = save_in, .n_inputs = 1, .flags = LOOM_NODE_OUTPUT,
     .execute = save_exec},
    {.name = "TestLoadNoCache", .inputs = load_in, .n_inputs = 1, .outputs = blob_out,
     .n_outputs = 1, .execute = load_exec, .flags = LOOM_NODE_NEVER_CACHE},
    {.name = "TestSampleNoCache", .inputs = sample_in, .n_inputs = LOOM_COUNT(sample_in),
     .outputs = blob_out, .n_outputs = 1, .execute = sample_exec, .flags = LOOM_NODE_NEVER_CACHE},
    {.name = "TestSaveNoCache", .inputs = save_in, .n_inputs = 1,
     .flags = LOOM_NODE_OUTPUT | LOOM_NODE_NEVER_CACHE, .execute = save_exec},
};

/* ---- event recording ----------------------------------------------------------- */

typedef struct rec {
    char executing[64][16];
    int  n_executing;
    int  n_cached;
    int  n_progress, n_error, n_interrupted, n_success, n_executed;
    char error_msg[512];
    int  interrupt_at;       /* progress value at which to call loom_interrupt */
    loom_session *s;
} rec;

static void on_event(const loom_event *ev, void *user)
{
    rec *r = user;
    switch (ev->type) {
    case LOOM_EV_EXECUTING:
        if (r->n_executing < 64)
            snprintf(r->executing[r->n_executing++], 16, "%s", ev->node_id);
        break;
    case LOOM_EV_EXECUTION_CACHED: r->n_cached = (int)ev->n_nodes; break;
    case LOOM_EV_PROGRESS:
        r->n_progress++;
        if (r->interrupt_at && ev->value == r->interrupt_at)
            loom_interrupt(r->s);
        break;
    case LOOM_EV_EXECUTED: r->n_executed++; break;
    case LOOM_EV_EXECUTION_ERROR:
        r->n_error++;
        snprintf(r->error_msg, sizeof r->error_msg, "%s", ev->message);
        break;
    case LOOM_EV_EXECUTION_INTERRUPTED: r->n_interrupted++; break;
    case LOOM_EV_EXECUTION_SUCCESS: r->n_success++; break;
    default: break;
    }
}

static bool ran(const rec *r, const char *id)
{
    for (int i = 0; i < r->n_executing; i++)
        if (!strcmp(r->executing[i], id))
            return true;
    return false;
}

static loom_session *new_session(uint64_t budget)
{
    loom_options opt = {.no_default_plugins = true, .quiet = true, .cache_budget = budget};
    loom_session *s;
    loom_error err;
    if (loom_session_new(&opt, &s, &err) != LOOM_OK)
        return NULL;
    for (size_t i = 0; i < LOOM_COUNT(test_nodes); i++)
        loom_session_register_node(s, &test_nodes[i], NULL, "test", &err);
    return s;
}

static int run(loom_session *s, loom_workflow *wf, rec *r, loom_error *err)
{
    memset(r->executing, 0, sizeof r->executing);
    r->n_executing = r->n_cached = r->n_progress = r->n_error = r->n_interrupted = 0;
    r->n_success = r->n_executed = 0;
    r->s = s;
    loom_run_options opt = {.on_event = on_event, .user = r};
    return loom_run(s, wf, &opt, err);
}

static const char *chain =
    "{\"10\": {\"class_type\": \"TestLoad\", \"inputs\": {\"name\": \"m.safetensors\"}},"
    " \"20\": {\"class_type\": \"TestSample\", \"inputs\": {\"blob\": [\"10\", 0], \"seed\": 1,"
    "          \"steps\": 3, \"mode\": \"a\"}, \"extra_key\": {\"kept\": true}},"
    " \"30\": {\"class_type\": \"TestSave\", \"inputs\": {\"blob\": [\"20\", 0]},"
    "          \"_meta\": {\"title\": \"Save it\"}}}";

static void test_seed_change_reruns_only_downstream(void)
{
    loom_session *s = new_session(0);
    loom_workflow *wf;
    loom_error err = {0};
    rec r = {0};
    CHECK(loom_workflow_load_string(s, chain, &wf, &err) == LOOM_OK);
    n_load = n_sample = n_save = 0;
    CHECK(run(s, wf, &r, &err) == LOOM_OK);
    CHECK(r.n_executing == 3 && r.n_cached == 0 && r.n_success == 1);
    CHECK(r.n_progress == 3);

    /* Same workflow again: everything comes from the cache, the output re-reports UI. */
    CHECK(run(s, wf, &r, &err) == LOOM_OK);
    CHECK_MSG(r.n_executing == 0, "%d nodes ran", r.n_executing);
    CHECK(r.n_cached == 3 && r.n_executed == 1);

    /* New seed: the loader is cached, sampler and save run again. */
    CHECK(loom_workflow_apply_set(wf, "20.seed=18446744073709551615", &err) == LOOM_OK);
    CHECK(run(s, wf, &r, &err) == LOOM_OK);
    CHECK(!ran(&r, "10") && ran(&r, "20") && ran(&r, "30"));
    CHECK(r.n_cached == 1);
    CHECK(last_seed == UINT64_MAX);
    CHECK(n_load == 1 && n_sample == 2 && n_save == 2);

    /* Keys are content-addressed: a new node id for the same loader still hits. */
    char *json = loom_workflow_to_json(wf, false);
    CHECK_CONTAINS(json, "18446744073709551615");
    CHECK_CONTAINS(json, "\"extra_key\"");      /* unknown keys preserved */
    free(json);
    loom_workflow *wf2;
    CHECK(loom_workflow_load_string(s,
        "{\"99\": {\"class_type\": \"TestLoad\", \"inputs\": {\"name\": \"m.safetensors\"}},"
        " \"7\": {\"class_type\": \"TestSave\", \"inputs\": {\"blob\": [\"99\", 0]}}}",
        &wf2, &err) == LOOM_OK);
    CHECK(run(s, wf2, &r, &err) == LOOM_OK);
    CHECK(!ran(&r, "99") && ran(&r, "7"));

    /* Title lookup for --set, and ints written as floats are accepted. */
    CHECK(loom_workflow_apply_set(wf, "Save it.blob=[\"20\", 0]", &err) == LOOM_OK);
    CHECK(loom_workflow_apply_set(wf, "20.steps=3.0", &err) == LOOM_OK);
    CHECK_MSG(run(s, wf, &r, &err) == LOOM_OK, "%s", err.msg);
    CHECK_MSG(r.n_executing == 0, "steps 3.0 should equal steps 3 (%d ran)", r.n_executing);
    CHECK(loom_workflow_apply_set(wf, "nosuchnode.seed=1", &err) != LOOM_OK);
    CHECK_CONTAINS(err.msg, "nosuchnode");

    loom_workflow_free(wf2);
    loom_workflow_free(wf);
    loom_session_free(s);
}

static void test_values_freed(void)
{
    /* Uncacheable chain: the loader's value must be gone by the time the output runs. */
    loom_session *s = new_session(0);
    loom_workflow *wf;
    loom_error err = {0};
    rec r = {0};
    CHECK(loom_workflow_load_string(s,
        "{\"1\": {\"class_type\": \"TestLoadNoCache\", \"inputs\": {\"name\": \"a\"}},"
        " \"2\": {\"class_type\": \"TestSampleNoCache\", \"inputs\": {\"blob\": [\"1\", 0],"
        "         \"seed\": 5, \"steps\": 1, \"mode\": \"b\"}},"
        " \"3\": {\"class_type\": \"TestSaveNoCache\", \"inputs\": {\"blob\": [\"2\", 0]}}}",
        &wf, &err) == LOOM_OK);
    n_destroyed = 0;
    CHECK(run(s, wf, &r, &err) == LOOM_OK);
    CHECK_MSG(producer_freed_before_output, "loader output still alive when the output ran");
    CHECK_MSG(n_destroyed == 2, "%d of 2 values freed after the run", n_destroyed);
    CHECK(loom_cache_entry_count(s) == 0);
    loom_workflow_free(wf);
    loom_session_free(s);

    /* A tiny budget: entries of an earlier run are evicted (and freed) by the next. */
    s = new_session(1);
    CHECK(loom_workflow_load_string(s, chain, &wf, &err) == LOOM_OK);
    n_destroyed = 0;
    CHECK(run(s, wf, &r, &err) == LOOM_OK);
    CHECK(loom_cache_entry_count(s) == 3);   /* the current run's entries are protected */
    CHECK(loom_workflow_apply_set(wf, "10.name=other", &err) == LOOM_OK);
    CHECK(run(s, wf, &r, &err) == LOOM_OK);
    CHECK_MSG(n_destroyed == 2, "%d of 2 first-run values evicted and freed", n_destroyed);
    loom_workflow_free(wf);
    loom_session_free(s);
}

static void test_interrupt_and_errors(void)
{
    loom_session *s = new_session(0);
    loom_workflow *wf;
    loom_error err = {0};
    rec r = {0};
    CHECK(loom_workflow_load_string(s, chain, &wf, &err) == LOOM_OK);
    CHECK(loom_workflow_apply_set(wf, "20.steps=50", &err) == LOOM_OK);
    r.interrupt_at = 5;
    CHECK(run(s, wf, &r, &err) == LOOM_ERR_INTERRUPTED);
    CHECK(r.n_interrupted == 1 && r.n_success == 0 && r.n_progress == 5);
    CHECK(!ran(&r, "30"));
    CHECK_CONTAINS(err.msg, "node 20 (TestSample)");
    r.interrupt_at = 0;

    /* The next run starts clean, and the interrupted node was not cached. */
    CHECK(run(s, wf, &r, &err) == LOOM_OK);
    CHECK(ran(&r, "20") && r.n_success == 1);

    CHECK(loom_workflow_apply_set(wf, "20.steps=13", &err) == LOOM_OK);
    CHECK(run(s, wf, &r, &err) == LOOM_ERR_RUNTIME);
    CHECK(r.n_error == 1 && r.n_success == 0);
    CHECK_CONTAINS(r.error_msg, "unlucky number of steps: 13");
    CHECK_CONTAINS(err.msg, "node 20 (TestSample)");

    /* Reading an input the type does not declare fails the node, naming the input. */
    CHECK(loom_workflow_apply_set(wf, "20.steps=14", &err) == LOOM_OK);
    CHECK(run(s, wf, &r, &err) == LOOM_ERR_RUNTIME);
    CHECK(r.n_error == 1 && r.n_success == 0 && !ran(&r, "30"));
    CHECK_CONTAINS(err.msg, "node 20 (TestSample): read input 'stpes', which node type TestSample "
                            "does not declare");
    loom_workflow_free(wf);
    loom_session_free(s);
}

static bool has_error(loom_validation *v, const char *node, const char *type, const char *input)
{
    for (size_t i = 0; i < loom_validation_count(v); i++) {
        const loom_validation_error *e = loom_validation_get(v, i);
        if (strcmp(e->type, type) != 0)
            continue;
        if (node && (!e->node_id || strcmp(e->node_id, node)))
            continue;
        if (input && (!e->input_name || strcmp(e->input_name, input)))
            continue;
        return true;
    }
    return false;
}

static void test_validation(void)
{
    loom_session *s = new_session(0);
    loom_workflow *wf;
    loom_error err = {0};
    CHECK(loom_workflow_load_string(s,
        "{\"1\": {\"class_type\": \"TestLoad\", \"inputs\": {}},"
        " \"2\": {\"class_type\": \"TestSample\", \"inputs\": {\"blob\": [\"1\", 0], \"seed\": -1,"
        "         \"steps\": 1000, \"mode\": \"c\", \"cfg\": \"abc\"}},"
        " \"3\": {\"class_type\": \"TestSave\", \"inputs\": {\"blob\": [\"2\", 0]}},"
        " \"4\": {\"class_type\": \"TestSave\", \"inputs\": {\"blob\": [\"5\", 0]}},"
        " \"5\": {\"class_type\": \"TestSample\", \"inputs\": {\"blob\": [\"11\", 0], \"seed\": 1,"
        "         \"steps\": 2, \"mode\": \"a\", \"cfg\": [\"11\", 0]}},"
        " \"11\": {\"class_type\": \"TestLoad\", \"inputs\": {\"name\": \"ok\"}},"
        " \"6\": {\"class_type\": \"TestSave\", \"inputs\": {\"blob\": [\"8\", 0]}},"
        " \"7\": {\"class_type\": \"NoSuchNode\", \"inputs\": {}},"
        " \"8\": {\"class_type\": \"TestSample\", \"inputs\": {\"blob\": [\"9\", 0], \"seed\": 1,"
        "         \"steps\": 2, \"mode\": \"a\"}},"
        " \"9\": {\"class_type\": \"TestSample\", \"inputs\": {\"blob\": [\"8\", 0], \"seed\": 1,"
        "         \"steps\": 2, \"mode\": \"a\"}}}",
        &wf, &err) == LOOM_OK);
    loom_validation *v = loom_validate(s, wf);
    CHECK(!loom_validation_ok(v));
    CHECK(has_error(v, "1", "required_input_missing", "name"));
    CHECK(has_error(v, "2", "value_smaller_than_min", "seed"));
    CHECK(has_error(v, "2", "value_bigger_than_max", "steps"));
    CHECK(has_error(v, "2", "value_not_in_list", "mode"));
    CHECK(has_error(v, "2", "invalid_input_type", "cfg"));
    CHECK(has_error(v, "5", "return_type_mismatch", "cfg"));
    CHECK(has_error(v, "7", "invalid_prompt", NULL));
    CHECK(has_error(v, NULL, "dependency_cycle", NULL));
    /* Only root causes: the outputs downstream of broken nodes carry no error. */
    CHECK(!has_error(v, "3", "required_input_missing", NULL));
    char *json = loom_validation_to_json(v, false);
    CHECK_CONTAINS(json, "\"node_errors\"");
    CHECK_CONTAINS(json, "\"dependent_outputs\":[\"3\"");
    CHECK_CONTAINS(json, "\"received_value\":\"c\"");
    CHECK_CONTAINS(json, "mode: 'c' not in ['a', 'b']");
    free(json);
    char *line = loom_validation_error_line(loom_validation_get(v, 0));
    CHECK(line && strstr(line, "node "));
    free(line);
    CHECK(loom_run(s, wf, NULL, &err) == LOOM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "not valid");
    loom_validation_free(v);
    loom_workflow_free(wf);

    CHECK(loom_workflow_load_string(s, "{\"1\": {\"class_type\": \"TestLoad\", \"inputs\": "
                                       "{\"name\": \"x\"}}}", &wf, &err) == LOOM_OK);
    v = loom_validate(s, wf);
    CHECK(has_error(v, NULL, "prompt_no_outputs", NULL));
    loom_validation_free(v);
    loom_workflow_free(wf);

    /* Structural errors are caught at load, with the node named. */
    CHECK(loom_workflow_load_string(s, "{\"1\": {\"inputs\": {}}}", &wf, &err) != LOOM_OK);
    CHECK_CONTAINS(err.msg, "'1'");
    CHECK(loom_workflow_load_string(s, "[1,2]", &wf, &err) != LOOM_OK);
    CHECK(loom_workflow_load_string(s, "{\"1\": ", &wf, &err) != LOOM_OK);
    CHECK_CONTAINS(err.msg, "invalid JSON");
    loom_session_free(s);
}

static void test_build_from_scratch(void)
{
    loom_session *s = new_session(0);
    loom_error err = {0};
    loom_workflow *wf = loom_workflow_new();
    const char *a = loom_workflow_add_node(wf, NULL, "TestLoad", &err);
    CHECK_STR(a, "1");
    const char *b = loom_workflow_add_node(wf, NULL, "TestSave", &err);
    CHECK_STR(b, "2");
    CHECK(loom_workflow_set_input_json(wf, "1", "name", "plain text", &err) == LOOM_OK);
    CHECK(loom_workflow_set_link(wf, "2", "blob", "1", 0, &err) == LOOM_OK);
    char *v = loom_workflow_get_input_json(wf, "1", "name");
    CHECK_STR(v, "\"plain text\"");
    free(v);
    rec r = {0};
    CHECK(run(s, wf, &r, &err) == LOOM_OK);
    char *outs = loom_session_last_outputs(s);
    CHECK_CONTAINS(outs, "\"2\":{\"images\":[{\"filename\":\"x_00001_.png\"");
    free(outs);
    loom_value *blob = loom_session_last_value(s, "1", 0);
    CHECK(blob && !strcmp(loom_value_type(blob), "BLOB"));
    loom_value_unref(blob);
    loom_workflow_free(wf);
    loom_session_free(s);
}

int main(void)
{
    test_seed_change_reruns_only_downstream();
    test_values_freed();
    test_interrupt_and_errors();
    test_validation();
    test_build_from_scratch();
    return check_summary("test_engine");
}
