/* event_bus.h - the instance event bus: the store's instance hook publishes
 * every committed instance change here, in revision order, and each
 * subscriber whose tenant/pool filter matches gets it. WatchInstances
 * streams (service/api/) subscribe; so will core's reconcile loop.
 *
 * A subscriber that first lists the current instances subscribes with
 * `hold`: events are then kept (packed) until event_bus_release(), which
 * delivers only those newer than the listing's snapshot revision, so that
 * nothing is lost or delivered twice at the seam.
 *
 * Threads: every function may be called from any thread. Callbacks run on
 * the publishing thread (the one committing the store write) or the one
 * calling event_bus_release(), under the bus lock: a callback must not
 * block, nor call event_bus_* on the same bus. */
#ifndef MVM_EVENT_BUS_H
#define MVM_EVENT_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "mvm/v1/instance.pb-c.h"
#include "mvm_error.h"

typedef struct event_bus event_bus;
typedef struct event_sub event_sub;

/* Called with each event for a subscriber (see Threads). ev is valid
 * during the call only. */
typedef void (*event_fn)(void *arg, const Mvm__V1__InstanceEvent *ev);

/* A new bus, or NULL when out of memory. Runs no callback. */
event_bus *event_bus_new(void);
/* Frees the bus and any subscriptions left (their callbacks are not run).
 * No other thread may use the bus any more. NULL is fine. */
void event_bus_free(event_bus *b);
/* A store_instance_hook (bus is the event_bus): runs the callback of every
 * matching live subscriber, and keeps a copy for every matching held one.
 * A held subscriber that cannot get its copy (out of memory) is marked, and
 * its event_bus_release() fails. Never fails the publisher. */
void event_bus_publish(void *bus, Mvm__V1__InstanceEvent__Type type,
                       const Mvm__V1__Instance *inst, uint64_t rev);
/* Subscribes fn(arg) to events of tenant/pool (NULL or "": all); with hold,
 * events are kept until event_bus_release(). Runs no callback. Errors:
 * RESOURCE_EXHAUSTED (out of memory; *out is NULL). */
mvm_code event_bus_subscribe(event_bus *b, const char *tenant, const char *pool, bool hold,
                             event_fn fn, void *arg, event_sub **out, mvm_error *err);
/* Runs fn for each kept event with rev > after_rev, in order, then makes s
 * live. Errors: RESOURCE_EXHAUSTED when events for s were lost (out of
 * memory while keeping or replaying them): s is live, but the subscriber
 * has missed events and should start over. */
mvm_code event_bus_release(event_bus *b, event_sub *s, uint64_t after_rev, mvm_error *err);
/* Ends and frees s. After it returns, fn is never called again for s (a
 * callback running on another thread has finished). */
void event_bus_unsubscribe(event_bus *b, event_sub *s);
/* Number of subscribers (for metrics and tests). */
unsigned event_bus_count(event_bus *b);

#endif
