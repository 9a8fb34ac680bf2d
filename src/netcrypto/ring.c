/* The packet rings: numbers [start, end) held in a power-of-two array that
 * doubles when a packet lands past its end, up to TW_NC_BUFFER_PACKETS. */
#include <stdlib.h>
#include <string.h>

#include "netcrypto/nc_internal.h"

int tw_nc_ring_reserve(nc_ring *r, uint32_t number) {
  uint32_t need = number - r->start + 1;
  if (need > TW_NC_BUFFER_PACKETS) return TW_E_FULL;
  if (need <= r->cap) return TW_OK;
  uint32_t cap = r->cap ? r->cap : TW_NC_INITIAL_RING;
  while (cap < need) cap *= 2;
  nc_slot *s = calloc(cap, sizeof *s);
  if (s == NULL) return TW_E_NOMEM;
  /* Re-place the live numbers: their index depends on the capacity. */
  for (uint32_t n = r->start; n != r->end; n++)
    if (r->cap != 0) s[n & (cap - 1)] = r->slot[n & (r->cap - 1)];
  free(r->slot);
  r->slot = s;
  r->cap = cap;
  return TW_OK;
}

void tw_nc_ring_clear(tw_nc *nc, nc_ring *r) {
  if (r->slot != NULL)
    for (uint32_t n = r->start; n != r->end; n++) {
      nc_slot *s = tw_nc_ring_at(r, n);
      if (s->data != NULL) {
        tw_crypto_wipe(s->data, s->len);
        tw_nc_buf_put(nc, s->data);
      }
      memset(s, 0, sizeof *s);
    }
  r->start = r->end = 0;
}
