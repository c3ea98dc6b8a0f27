/* api_state_test.c - the instance state machine (service/core): the edges
 * of instance.proto, which states each lifecycle RPC accepts, the
 * FAILED_PRECONDITION message, and which states allow deletion. */
#include "check.h"
#include "instance_state.h"

#define ST(x) MVM__V1__INSTANCE_STATE__INSTANCE_STATE_##x

int main(void) {
    /* the lifecycle of instance.proto */
    CHECK(instance_state_can(ST(CREATED), ST(READY)));
    CHECK(instance_state_can(ST(READY), ST(RUNNING)));
    CHECK(instance_state_can(ST(RUNNING), ST(WARM)));
    CHECK(instance_state_can(ST(WARM), ST(SLEEPING)));
    CHECK(instance_state_can(ST(SLEEPING), ST(RUNNING)));
    CHECK(instance_state_can(ST(STOPPED), ST(RUNNING)));
    for (int s = ST(CREATED); s <= ST(FAILED); s++)
        if (s != ST(DESTROYED))
            CHECK(instance_state_can((instance_state)s, ST(DESTROYED)));
    for (int s = ST(CREATED); s <= ST(FAILED); s++)
        if (instance_state_live((instance_state)s))
            CHECK(instance_state_can((instance_state)s, ST(STOPPED)));
    CHECK(!instance_state_can(ST(CREATED), ST(RUNNING)));
    CHECK(instance_state_can(ST(SLEEPING), ST(STOPPED))); /* its snapshot dropped */
    CHECK(!instance_state_can(ST(SLEEPING), ST(WARM)));
    CHECK(!instance_state_can(ST(DESTROYED), ST(RUNNING)));
    CHECK(!instance_state_can(ST(RUNNING), ST(RUNNING)));
    CHECK(!instance_state_can(ST(RUNNING), (instance_state)99));
    CHECK(instance_state_live(ST(RUNNING)) && !instance_state_live(ST(SLEEPING)));

    /* which states each RPC accepts */
    struct {
        instance_action a;
        uint32_t ok; /* bit per state */
    } want[] = {
        {INSTANCE_ACTION_START, 1u << ST(CREATED) | 1u << ST(READY) | 1u << ST(STOPPED)},
        {INSTANCE_ACTION_STOP,
         1u << ST(READY) | 1u << ST(RUNNING) | 1u << ST(WARM) | 1u << ST(SLEEPING)},
        {INSTANCE_ACTION_SLEEP, 1u << ST(RUNNING) | 1u << ST(WARM)},
        {INSTANCE_ACTION_WAKE, 1u << ST(WARM) | 1u << ST(SLEEPING)},
        {INSTANCE_ACTION_PAUSE, 1u << ST(RUNNING)},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        for (int s = 0; s <= ST(FAILED) + 1; s++) {
            mvm_error err;
            mvm_error_clear(&err);
            mvm_code c = instance_action_check(want[k].a, (instance_state)s, "i-1", &err);
            int expect_ok = s <= ST(FAILED) && ((want[k].ok >> s) & 1u);
            CHECK_EQ_INT(c, expect_ok ? MVM_OK : MVM_FAILED_PRECONDITION);
            if (!expect_ok)
                CHECK(err.msg[0] != '\0');
        }
    mvm_error err;
    CHECK_EQ_INT(instance_action_check(INSTANCE_ACTION_PAUSE, ST(SLEEPING), "i-abc", &err),
                 MVM_FAILED_PRECONDITION);
    CHECK(strstr(err.msg, "i-abc") && strstr(err.msg, "SLEEPING") && strstr(err.msg, "WARM"));
    CHECK_EQ_INT(instance_action_target(INSTANCE_ACTION_WAKE), ST(RUNNING));
    CHECK_EQ_STR(instance_action_name(INSTANCE_ACTION_SLEEP), "SleepInstance");
    CHECK_EQ_STR(instance_state_name(ST(WARM)), "WARM");
    CHECK_EQ_STR(instance_state_name((instance_state)42), "?");

    uint32_t del = instance_state_deletable();
    CHECK_EQ_INT(del, 1u << ST(CREATED) | 1u << ST(STOPPED) | 1u << ST(FAILED));
    for (int s = ST(CREATED); s <= ST(FAILED); s++)
        if (instance_state_live((instance_state)s))
            CHECK(!((del >> s) & 1u));
    return check_done();
}
