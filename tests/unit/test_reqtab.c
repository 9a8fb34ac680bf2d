/* core/reqtab.h: a response is accepted once, from the node asked, in time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/reqtab.h"
#include "testutil.h"
#include "toxwire/error.h"

#define SLOTS 8
#define TTL 5000

typedef struct fixture {
  tw_reqtab t;
  tw_reqtab_slot slots[SLOTS];
  tw_key pk, other_pk;
  tw_addr addr, other_addr;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  tw_reqtab_init(&f->t, f->slots, SLOTS, TTL);
  f->pk = test_key_fill(0x11);
  f->other_pk = test_key_fill(0x22);
  f->addr = test_addr4(10, 0, 0, 1, 33445);
  f->other_addr = test_addr4(10, 0, 0, 2, 33445);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  free(*state);
  return 0;
}

static void test_accepted_once(void **state) {
  fixture *f = *state;
  uint64_t id = tw_reqtab_add(&f->t, &f->pk, &f->addr, 77, 1000, 0x123456789abcdef0ULL);
  assert_true(id != 0);
  uint64_t tag = 0;
  assert_int_equal(tw_reqtab_take(&f->t, id, &f->pk, &f->addr, 1001, &tag), TW_OK);
  assert_int_equal(tag, 77);
  assert_int_equal(tw_reqtab_take(&f->t, id, &f->pk, &f->addr, 1002, &tag), TW_E_UNSOLICITED);
}

static void test_tag_out_is_optional(void **state) {
  fixture *f = *state;
  uint64_t id = tw_reqtab_add(&f->t, &f->pk, &f->addr, 5, 0, 42);
  assert_int_equal(tw_reqtab_take(&f->t, id, &f->pk, &f->addr, 0, NULL), TW_OK);
}

static void test_expiry(void **state) {
  fixture *f = *state;
  uint64_t a = tw_reqtab_add(&f->t, &f->pk, &f->addr, 0, 10000, 0xaaaa0000ULL);
  uint64_t b = tw_reqtab_add(&f->t, &f->pk, &f->addr, 0, 10000, 0xbbbb0000ULL);
  /* Exactly the TTL later is still in time; one millisecond more is not. */
  assert_int_equal(tw_reqtab_take(&f->t, a, &f->pk, &f->addr, 10000 + TTL, NULL), TW_OK);
  assert_int_equal(tw_reqtab_take(&f->t, b, &f->pk, &f->addr, 10000 + TTL + 1, NULL),
                   TW_E_UNSOLICITED);
}

static void test_wrong_pk_or_addr_rejected_and_kept(void **state) {
  fixture *f = *state;
  uint64_t id = tw_reqtab_add(&f->t, &f->pk, &f->addr, 0, 0, 0xfeed0000ULL);
  assert_int_equal(tw_reqtab_take(&f->t, id, &f->other_pk, &f->addr, 1, NULL),
                   TW_E_UNSOLICITED);
  assert_int_equal(tw_reqtab_take(&f->t, id, &f->pk, &f->other_addr, 1, NULL),
                   TW_E_UNSOLICITED);
  tw_addr other_port = f->addr;
  other_port.port++;
  assert_int_equal(tw_reqtab_take(&f->t, id, &f->pk, &other_port, 1, NULL), TW_E_UNSOLICITED);
  /* A forged response does not use up the real one. */
  assert_int_equal(tw_reqtab_take(&f->t, id, &f->pk, &f->addr, 1, NULL), TW_OK);
}

static void test_wrong_id_rejected(void **state) {
  fixture *f = *state;
  uint64_t id = tw_reqtab_add(&f->t, &f->pk, &f->addr, 0, 0, 0xfeed0000ULL);
  assert_int_equal(tw_reqtab_take(&f->t, 0, &f->pk, &f->addr, 1, NULL), TW_E_UNSOLICITED);
  assert_int_equal(tw_reqtab_take(&f->t, id ^ 0x100, &f->pk, &f->addr, 1, NULL),
                   TW_E_UNSOLICITED);
  assert_int_equal(tw_reqtab_take(&f->t, id + 1, &f->pk, &f->addr, 1, NULL), TW_E_UNSOLICITED);
  assert_int_equal(tw_reqtab_take(&f->t, id, &f->pk, &f->addr, 1, NULL), TW_OK);
}

static void test_overwritten_slot(void **state) {
  fixture *f = *state;
  uint64_t first = tw_reqtab_add(&f->t, &f->pk, &f->addr, 1, 0, 0x1111111100ULL);
  uint64_t ids[SLOTS];
  for (int i = 0; i < SLOTS; i++)
    ids[i] = tw_reqtab_add(&f->t, &f->pk, &f->addr, (uint32_t)(100 + i), 0,
                           0x2222222200ULL + ((uint64_t)i << 16));
  /* The ring wrapped: the first request's slot now holds the ninth. */
  assert_int_equal(tw_reqtab_take(&f->t, first, &f->pk, &f->addr, 1, NULL), TW_E_UNSOLICITED);
  for (int i = 0; i < SLOTS; i++) {
    uint64_t tag = 0;
    assert_int_equal(tw_reqtab_take(&f->t, ids[i], &f->pk, &f->addr, 1, &tag), TW_OK);
    assert_int_equal(tag, 100 + i);
  }
}

static void test_ids_distinct_and_nonzero(void **state) {
  fixture *f = *state;
  /* random == 0 must still give a nonzero id; ids in flight differ. */
  uint64_t ids[SLOTS];
  for (int i = 0; i < SLOTS; i++) {
    ids[i] = tw_reqtab_add(&f->t, &f->pk, &f->addr, 0, 0, 0);
    assert_true(ids[i] != 0);
    for (int j = 0; j < i; j++) assert_true(ids[i] != ids[j]);
  }
  for (int i = 0; i < SLOTS; i++)
    assert_int_equal(tw_reqtab_take(&f->t, ids[i], &f->pk, &f->addr, 0, NULL), TW_OK);
}

static void test_random_bits_carried_into_id(void **state) {
  fixture *f = *state;
  /* The id must not be guessable from the slot alone: the high bits come
   * from the caller's random value. */
  uint64_t a = tw_reqtab_add(&f->t, &f->pk, &f->addr, 0, 0, 0xdeadbeef00000000ULL);
  assert_true((a & 0xffffffff00000000ULL) == 0xdeadbeef00000000ULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_accepted_once, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tag_out_is_optional, setup, teardown),
      cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wrong_pk_or_addr_rejected_and_kept, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wrong_id_rejected, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overwritten_slot, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ids_distinct_and_nonzero, setup, teardown),
      cmocka_unit_test_setup_teardown(test_random_bits_carried_into_id, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
