/* Pending request table: remembers which request ids we sent, to whom and
 * when, so that a response is accepted only once, only from the node we
 * asked, and only within a time limit. The table is a ring of slots the
 * caller provides; the newest request overwrites the oldest, so a flood of
 * our own requests never grows memory. The slot index is folded into the id
 * so a lookup is one probe. */
#ifndef TW_CORE_REQTAB_H
#define TW_CORE_REQTAB_H

#include "toxwire/types.h"

typedef struct tw_reqtab_slot {
  uint64_t id; /* 0: free */
  tw_key pk;
  tw_addr addr;
  tw_time_ms sent;
  uint64_t tag; /* caller's data, e.g. which list asked */
} tw_reqtab_slot;

typedef struct tw_reqtab {
  tw_reqtab_slot *slots;
  uint32_t count; /* a power of two */
  uint32_t next;
  tw_time_ms ttl_ms;
} tw_reqtab;

/* count must be a power of two. */
void tw_reqtab_init(tw_reqtab *t, tw_reqtab_slot *slots, uint32_t count, tw_time_ms ttl_ms);
/* Records a request and returns its id (never 0). random supplies the
 * unpredictable part of the id. */
uint64_t tw_reqtab_add(tw_reqtab *t, const tw_key *pk, const tw_addr *addr,
                       uint64_t tag, tw_time_ms now, uint64_t random);
/* If id names a live request sent to pk at addr, frees it, stores its tag
 * and returns TW_OK; else TW_E_UNSOLICITED. */
int tw_reqtab_take(tw_reqtab *t, uint64_t id, const tw_key *pk, const tw_addr *addr,
                   tw_time_ms now, uint64_t *tag);
/* The live request id names, or NULL; it stays pending. For responses that
 * must be opened (with what the slot says) before they count as answers. */
const tw_reqtab_slot *tw_reqtab_peek(const tw_reqtab *t, uint64_t id, tw_time_ms now);
/* Frees the request id names (after a peek). */
void tw_reqtab_drop(tw_reqtab *t, uint64_t id);

#endif
