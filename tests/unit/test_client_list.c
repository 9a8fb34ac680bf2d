/* dht/client_list.h: a list of at most 8 nodes kept closest first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dht/client_list.h"
#include "testutil.h"

#define BAD 122000

/* With base all zeroes, the distance of a key is the key itself, so a key
 * whose first byte is d sits at distance "d". */
static tw_key key_at(uint8_t d) {
  tw_key k;
  memset(&k, 0, sizeof k);
  k.bytes[0] = d;
  k.bytes[31] = 1; /* never equal to the base */
  return k;
}

static tw_addr addr_of(uint8_t d) { return test_addr4(203, 0, 113, d, 33445); }

static const tw_key *base(void) {
  static tw_key z;
  return &z;
}

static void assert_sorted(const tw_client_list *l) {
  for (int i = 1; i < l->count; i++)
    assert_true(tw_key_distance_cmp(base(), &l->e[i - 1].pk, &l->e[i].pk) < 0);
}

static void test_added_in_distance_order(void **state) {
  (void)state;
  tw_client_list l;
  memset(&l, 0, sizeof l);
  const uint8_t order[] = {50, 10, 90, 30, 70, 20};
  for (size_t i = 0; i < sizeof order; i++) {
    tw_key k = key_at(order[i]);
    tw_addr a = addr_of(order[i]);
    assert_int_equal(tw_client_list_add(&l, base(), &k, &a, 100 + i, BAD), TW_LIST_ADDED);
    assert_sorted(&l);
  }
  assert_int_equal(l.count, 6);
  const uint8_t want[] = {10, 20, 30, 50, 70, 90};
  for (int i = 0; i < 6; i++) {
    assert_int_equal(l.e[i].pk.bytes[0], want[i]);
    tw_addr a = addr_of(want[i]);
    assert_true(tw_addr_equal(&l.e[i].addr, &a));
  }
}

static void test_distance_is_xor_from_base(void **state) {
  (void)state;
  tw_client_list l;
  memset(&l, 0, sizeof l);
  tw_key b = key_at(0xf0);
  tw_key near = key_at(0xff), far = key_at(0x01);
  tw_addr a = addr_of(1);
  tw_client_list_add(&l, &b, &far, &a, 0, BAD);
  tw_client_list_add(&l, &b, &near, &a, 0, BAD);
  assert_true(tw_key_equal(&l.e[0].pk, &near));
  assert_true(tw_key_equal(&l.e[1].pk, &far));
}

static void fill(tw_client_list *l, uint8_t first, uint8_t step, tw_time_ms now) {
  memset(l, 0, sizeof *l);
  for (int i = 0; i < TW_DHT_K; i++) {
    tw_key k = key_at((uint8_t)(first + i * step));
    tw_addr a = addr_of((uint8_t)i);
    assert_int_equal(tw_client_list_add(l, base(), &k, &a, now, BAD), TW_LIST_ADDED);
  }
  assert_int_equal(l->count, TW_DHT_K);
}

static void test_refresh_existing_updates_addr_and_time(void **state) {
  (void)state;
  tw_client_list l;
  fill(&l, 10, 10, 1000);
  tw_key k = key_at(30);
  tw_addr moved = test_addr4(192, 0, 2, 9, 4444);
  assert_int_equal(tw_client_list_add(&l, base(), &k, &moved, 5000, BAD), TW_LIST_UPDATED);
  assert_int_equal(l.count, TW_DHT_K);
  tw_dht_entry *e = tw_client_list_find(&l, &k);
  assert_non_null(e);
  assert_true(tw_addr_equal(&e->addr, &moved));
  assert_int_equal(e->last_seen, 5000);
  assert_sorted(&l);
}

static void test_self_never_added(void **state) {
  (void)state;
  tw_client_list l;
  memset(&l, 0, sizeof l);
  tw_key b = key_at(0x42);
  tw_addr a = addr_of(1);
  assert_false(tw_client_list_viable(&l, &b, &b, 0, BAD));
  assert_int_equal(tw_client_list_add(&l, &b, &b, &a, 0, BAD), TW_LIST_NOT_VIABLE);
  assert_int_equal(l.count, 0);
}

static void test_viability(void **state) {
  (void)state;
  tw_client_list l;
  memset(&l, 0, sizeof l);
  tw_key k = key_at(200);
  /* Room: anything but a present key is viable. */
  assert_true(tw_client_list_viable(&l, base(), &k, 0, BAD));
  fill(&l, 10, 10, 0); /* 10..80 */
  tw_key present = key_at(40), closer = key_at(45), further = key_at(90), edge = key_at(80);
  assert_false(tw_client_list_viable(&l, base(), &present, 0, BAD));
  assert_true(tw_client_list_viable(&l, base(), &closer, 0, BAD));
  assert_false(tw_client_list_viable(&l, base(), &further, 0, BAD));
  assert_false(tw_client_list_viable(&l, base(), &edge, 0, BAD)); /* present */
  /* Once the nodes go bad, even a further node is viable. */
  assert_false(tw_client_list_viable(&l, base(), &further, BAD, BAD));
  assert_true(tw_client_list_viable(&l, base(), &further, BAD + 1, BAD));
}

static void test_full_list_refuses_further_node(void **state) {
  (void)state;
  tw_client_list l;
  fill(&l, 10, 10, 0);
  tw_client_list before = l;
  tw_key k = key_at(200);
  tw_addr a = addr_of(99);
  assert_int_equal(tw_client_list_add(&l, base(), &k, &a, 10, BAD), TW_LIST_NOT_VIABLE);
  assert_memory_equal(&l, &before, sizeof l);
}

static void test_closer_node_replaces_furthest(void **state) {
  (void)state;
  tw_client_list l;
  fill(&l, 10, 10, 0); /* 10..80, all good */
  tw_key k = key_at(35);
  tw_addr a = addr_of(99);
  assert_int_equal(tw_client_list_add(&l, base(), &k, &a, 10, BAD), TW_LIST_ADDED);
  assert_int_equal(l.count, TW_DHT_K);
  tw_key gone = key_at(80);
  assert_null(tw_client_list_find(&l, &gone));
  assert_non_null(tw_client_list_find(&l, &k));
  assert_int_equal(l.e[3].pk.bytes[0], 35);
  assert_int_equal(l.e[7].pk.bytes[0], 70);
  assert_sorted(&l);
}

static void test_bad_node_replaced_first(void **state) {
  (void)state;
  tw_client_list l;
  fill(&l, 10, 10, 0); /* 10..80 */
  /* Everyone but 30 answers again later; 30 goes bad. */
  for (int i = 0; i < TW_DHT_K; i++)
    if (l.e[i].pk.bytes[0] != 30) l.e[i].last_seen = 100000;
  tw_time_ms now = BAD + 1; /* 30 is bad now, the rest good */
  /* A node further than all of them takes the bad node's place, not the
   * furthest's. */
  tw_key k = key_at(200);
  tw_addr a = addr_of(99);
  assert_true(tw_client_list_viable(&l, base(), &k, now, BAD));
  assert_int_equal(tw_client_list_add(&l, base(), &k, &a, now, BAD), TW_LIST_ADDED);
  tw_key bad = key_at(30), furthest_good = key_at(80);
  assert_null(tw_client_list_find(&l, &bad));
  assert_non_null(tw_client_list_find(&l, &furthest_good));
  assert_int_equal(l.e[TW_DHT_K - 1].pk.bytes[0], 200);
  assert_sorted(&l);
}

static void test_furthest_bad_node_replaced_among_several(void **state) {
  (void)state;
  tw_client_list l;
  fill(&l, 10, 10, 0);
  for (int i = 0; i < TW_DHT_K; i++)
    if (l.e[i].pk.bytes[0] != 20 && l.e[i].pk.bytes[0] != 60) l.e[i].last_seen = 100000;
  tw_key k = key_at(5);
  tw_addr a = addr_of(99);
  assert_int_equal(tw_client_list_add(&l, base(), &k, &a, BAD + 1, BAD), TW_LIST_ADDED);
  tw_key b20 = key_at(20), b60 = key_at(60);
  /* The worse (further) of the two bad nodes goes. */
  assert_non_null(tw_client_list_find(&l, &b20));
  assert_null(tw_client_list_find(&l, &b60));
  assert_int_equal(l.e[0].pk.bytes[0], 5);
  assert_sorted(&l);
}

static void test_new_entry_times(void **state) {
  (void)state;
  tw_client_list l;
  memset(&l, 0, sizeof l);
  tw_key k = key_at(9);
  tw_addr a = addr_of(9);
  tw_client_list_add(&l, base(), &k, &a, 7777, BAD);
  assert_int_equal(l.e[0].last_seen, 7777);
  assert_int_equal(l.e[0].last_check, 7777);
  assert_true(tw_entry_is_good(&l.e[0], 7777 + BAD, BAD));
  assert_false(tw_entry_is_good(&l.e[0], 7777 + BAD + 1, BAD));
}

static void test_remove_at_keeps_order(void **state) {
  (void)state;
  tw_client_list l;
  fill(&l, 10, 10, 0);
  tw_client_list_remove_at(&l, 0);
  tw_client_list_remove_at(&l, 3);           /* was 50 */
  tw_client_list_remove_at(&l, l.count - 1); /* 80 */
  assert_int_equal(l.count, 5);
  const uint8_t want[] = {20, 30, 40, 60, 70};
  for (int i = 0; i < 5; i++) assert_int_equal(l.e[i].pk.bytes[0], want[i]);
  tw_key k = key_at(50);
  assert_null(tw_client_list_find(&l, &k));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_added_in_distance_order),
      cmocka_unit_test(test_distance_is_xor_from_base),
      cmocka_unit_test(test_refresh_existing_updates_addr_and_time),
      cmocka_unit_test(test_self_never_added),
      cmocka_unit_test(test_viability),
      cmocka_unit_test(test_full_list_refuses_further_node),
      cmocka_unit_test(test_closer_node_replaces_furthest),
      cmocka_unit_test(test_bad_node_replaced_first),
      cmocka_unit_test(test_furthest_bad_node_replaced_among_several),
      cmocka_unit_test(test_new_entry_times),
      cmocka_unit_test(test_remove_at_keeps_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
