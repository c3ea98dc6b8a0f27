/* instance_state.c - the instance lifecycle transition table and the
 * checks built on it (see instance_state.h). */
#include "instance_state.h"

#define S(x) MVM__V1__INSTANCE_STATE__INSTANCE_STATE_##x
#define BIT(x) (1u << S(x))
#define NSTATES (S(FAILED) + 1)

/* next[from]: the states that may follow from. Any state may be destroyed
 * or fail; the rest is the lifecycle of instance.proto. */
static const uint32_t next[NSTATES] = {
    [S(CREATED)] = BIT(READY) | BIT(DESTROYED) | BIT(FAILED),
    [S(READY)] = BIT(RUNNING) | BIT(STOPPED) | BIT(DESTROYED) | BIT(FAILED),
    [S(RUNNING)] = BIT(WARM) | BIT(SLEEPING) | BIT(STOPPED) | BIT(DESTROYED) | BIT(FAILED),
    [S(WARM)] = BIT(RUNNING) | BIT(SLEEPING) | BIT(STOPPED) | BIT(DESTROYED) | BIT(FAILED),
    [S(SLEEPING)] = BIT(RUNNING) | BIT(STOPPED) | BIT(DESTROYED) | BIT(FAILED),
    [S(STOPPED)] = BIT(RUNNING) | BIT(DESTROYED) | BIT(FAILED),
    [S(FAILED)] = BIT(DESTROYED),
};

static const struct {
    const char *name;
    instance_state target;
    uint32_t from; /* states the RPC is meant for */
} actions[INSTANCE_ACTION_COUNT] = {
    [INSTANCE_ACTION_START] = {"StartInstance", S(RUNNING), BIT(CREATED) | BIT(READY) | BIT(STOPPED)},
    [INSTANCE_ACTION_STOP] = {"StopInstance", S(STOPPED),
                              BIT(READY) | BIT(RUNNING) | BIT(WARM) | BIT(SLEEPING)},
    [INSTANCE_ACTION_SLEEP] = {"SleepInstance", S(SLEEPING), BIT(RUNNING) | BIT(WARM)},
    [INSTANCE_ACTION_WAKE] = {"WakeInstance", S(RUNNING), BIT(WARM) | BIT(SLEEPING)},
    [INSTANCE_ACTION_PAUSE] = {"PauseInstance", S(WARM), BIT(RUNNING)},
};

const char *instance_state_name(instance_state s) {
    static const char *const names[NSTATES] = {
        "UNSPECIFIED", "CREATED", "READY", "RUNNING", "WARM",
        "SLEEPING",    "STOPPED", "DESTROYED", "FAILED",
    };
    return (unsigned)s < NSTATES ? names[s] : "?";
}

bool instance_state_can(instance_state from, instance_state to) {
    return (unsigned)from < NSTATES && (unsigned)to < NSTATES && ((next[from] >> to) & 1u);
}

bool instance_state_live(instance_state s) {
    return s == S(READY) || s == S(RUNNING) || s == S(WARM);
}

uint32_t instance_state_deletable(void) {
    return BIT(CREATED) | BIT(STOPPED) | BIT(FAILED);
}

instance_state instance_action_target(instance_action a) {
    return (unsigned)a < INSTANCE_ACTION_COUNT ? actions[a].target : S(UNSPECIFIED);
}

const char *instance_action_name(instance_action a) {
    return (unsigned)a < INSTANCE_ACTION_COUNT ? actions[a].name : "?";
}

mvm_code instance_action_check(instance_action a, instance_state from, const char *id,
                               mvm_error *err) {
    if ((unsigned)a >= INSTANCE_ACTION_COUNT)
        return mvm_fail(err, MVM_INTERNAL, "unknown instance action %d", (int)a);
    instance_state to = actions[a].target;
    /* Either a direct edge, or CREATED's path through READY. */
    bool path = instance_state_can(from, to) ||
                (instance_state_can(from, S(READY)) && instance_state_can(S(READY), to));
    if ((unsigned)from < NSTATES && ((actions[a].from >> from) & 1u) && path)
        return MVM_OK;
    return mvm_fail(err, MVM_FAILED_PRECONDITION,
                    "instance %s is %s: %s cannot take it from %s to %s", id ? id : "?",
                    instance_state_name(from), actions[a].name, instance_state_name(from),
                    instance_state_name(to));
}
