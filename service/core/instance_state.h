/* instance_state.h - the instance lifecycle state machine, in one place:
 * which state may follow which, which states the lifecycle RPCs (Start,
 * Stop, Sleep, Wake) may be called in, and which allow deletion. */
#ifndef MVM_INSTANCE_STATE_H
#define MVM_INSTANCE_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "mvm/v1/instance.pb-c.h"
#include "mvm_error.h"

typedef Mvm__V1__InstanceState instance_state;

typedef enum instance_action {
    INSTANCE_ACTION_START, /* boot, or resume from STOPPED -> RUNNING */
    INSTANCE_ACTION_STOP,  /* live or SLEEPING -> STOPPED */
    INSTANCE_ACTION_SLEEP, /* RUNNING or WARM -> SLEEPING */
    INSTANCE_ACTION_WAKE,  /* WARM (resume) or SLEEPING (restore) -> RUNNING */
    INSTANCE_ACTION_PAUSE, /* RUNNING -> WARM (paused in memory) */
    INSTANCE_ACTION_COUNT
} instance_action;

/* "RUNNING", ...; "?" for an unknown value. */
const char *instance_state_name(instance_state s);
/* True if the state machine has the edge from -> to. */
bool instance_state_can(instance_state from, instance_state to);
/* True for states with a Firecracker process (READY, RUNNING, WARM). */
bool instance_state_live(instance_state s);
/* Bit mask (1u << state) of states an instance may be deleted in. */
uint32_t instance_state_deletable(void);
/* The state action leads to. */
instance_state instance_action_target(instance_action a);
/* "StartInstance", ... */
const char *instance_action_name(instance_action a);
/* MVM_OK if action may be taken in state from (its path, possibly through
 * READY, follows the edges); else FAILED_PRECONDITION naming the instance,
 * its current state and the requested one. */
mvm_code instance_action_check(instance_action a, instance_state from, const char *id,
                               mvm_error *err);

#endif
