/* core/buf.h: the bounds-checked reader and writer every parser relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/buf.h"

static void test_reader_reads_big_endian_fields(void **state) {
  (void)state;
  const uint8_t in[] = {0xab, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef,
                        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
  tw_reader r = tw_reader_init(in, sizeof in);
  assert_int_equal(tw_read_u8(&r), 0xab);
  assert_int_equal(tw_read_u16(&r), 0x1234);
  assert_int_equal(tw_read_u32(&r), 0xdeadbeefu);
  assert_true(tw_read_u64(&r) == 0x0102030405060708ULL);
  assert_true(tw_reader_ok(&r));
  assert_true(tw_reader_done(&r));
  assert_int_equal(tw_reader_left(&r), 0);
}

static void test_reader_exact_length_is_ok(void **state) {
  (void)state;
  const uint8_t in[4] = {1, 2, 3, 4};
  tw_reader r = tw_reader_init(in, sizeof in);
  uint8_t out[4];
  tw_read_bytes(&r, out, 4);
  assert_memory_equal(out, in, 4);
  assert_true(tw_reader_done(&r));
}

static void test_reader_past_end_fails_and_returns_zero(void **state) {
  (void)state;
  const uint8_t in[3] = {0xff, 0xff, 0xff};
  tw_reader r = tw_reader_init(in, sizeof in);
  assert_int_equal(tw_read_u32(&r), 0);
  assert_false(tw_reader_ok(&r));
  assert_false(tw_reader_done(&r));
  assert_int_equal(tw_reader_left(&r), 0);
  /* Nothing was consumed by the failed read. */
  assert_int_equal(r.pos, 0);
}

static void test_reader_failure_is_sticky(void **state) {
  (void)state;
  const uint8_t in[5] = {1, 2, 3, 4, 5};
  tw_reader r = tw_reader_init(in, sizeof in);
  assert_int_equal(tw_read_u8(&r), 1);
  (void)tw_read_u16(&r);
  assert_int_equal(tw_read_u32(&r), 0); /* fails: 2 left */
  assert_false(tw_reader_ok(&r));
  /* Later reads that would fit still fail and yield zeroes. */
  assert_int_equal(tw_read_u8(&r), 0);
  assert_int_equal(tw_read_u16(&r), 0);
  assert_null(tw_read_span(&r, 0));
  uint8_t out[2] = {0xaa, 0xaa};
  tw_read_bytes(&r, out, 2);
  assert_int_equal(out[0], 0);
  assert_int_equal(out[1], 0);
  assert_false(tw_reader_ok(&r));
}

static void test_reader_u64_half_fits_fails_and_returns_zero(void **state) {
  (void)state;
  /* 6 bytes: the first half of the u64 fits, the second does not. The
   * contract is that a failed read returns zeroes and consumes nothing. */
  const uint8_t in[6] = {1, 2, 3, 4, 5, 6};
  tw_reader r = tw_reader_init(in, sizeof in);
  uint64_t v = tw_read_u64(&r);
  assert_false(tw_reader_ok(&r));
  assert_true(v == 0);
  assert_int_equal(r.pos, 0);
}

static void test_reader_span_and_rest(void **state) {
  (void)state;
  const uint8_t in[6] = {9, 8, 7, 6, 5, 4};
  tw_reader r = tw_reader_init(in, sizeof in);
  const uint8_t *s = tw_read_span(&r, 2);
  assert_ptr_equal(s, in);
  size_t n = 0;
  const uint8_t *rest = tw_read_rest(&r, &n);
  assert_ptr_equal(rest, in + 2);
  assert_int_equal(n, 4);
  assert_true(tw_reader_done(&r));
  /* Rest of nothing is an empty span, not a failure. */
  rest = tw_read_rest(&r, &n);
  assert_int_equal(n, 0);
  assert_true(tw_reader_ok(&r));
}

static void test_reader_empty_input(void **state) {
  (void)state;
  tw_reader r = tw_reader_init(NULL, 0);
  assert_true(tw_reader_done(&r));
  assert_int_equal(tw_read_u8(&r), 0);
  assert_false(tw_reader_ok(&r));
}

static void test_reader_huge_span_does_not_wrap(void **state) {
  (void)state;
  const uint8_t in[4] = {0};
  tw_reader r = tw_reader_init(in, sizeof in);
  (void)tw_read_u8(&r);
  assert_null(tw_read_span(&r, SIZE_MAX));
  assert_false(tw_reader_ok(&r));
}

static void test_writer_writes_big_endian_fields(void **state) {
  (void)state;
  uint8_t out[15];
  tw_writer w = tw_writer_init(out, sizeof out);
  tw_write_u8(&w, 0xab);
  tw_write_u16(&w, 0x1234);
  tw_write_u32(&w, 0xdeadbeefu);
  tw_write_u64(&w, 0x0102030405060708ULL);
  assert_true(tw_writer_ok(&w));
  assert_int_equal(w.pos, sizeof out);
  const uint8_t want[] = {0xab, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef,
                          0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
  assert_memory_equal(out, want, sizeof want);
}

static void test_writer_past_end_fails_without_writing(void **state) {
  (void)state;
  uint8_t out[6];
  memset(out, 0xcc, sizeof out);
  tw_writer w = tw_writer_init(out, 3);
  tw_write_u32(&w, 0x11223344);
  assert_false(tw_writer_ok(&w));
  assert_int_equal(w.pos, 0);
  for (int i = 0; i < 6; i++) assert_int_equal(out[i], 0xcc);
}

static void test_writer_failure_is_sticky(void **state) {
  (void)state;
  uint8_t out[4];
  memset(out, 0xcc, sizeof out);
  tw_writer w = tw_writer_init(out, sizeof out);
  tw_write_u8(&w, 1);
  tw_write_u32(&w, 0x11223344); /* does not fit: 3 left */
  assert_false(tw_writer_ok(&w));
  tw_write_u8(&w, 2); /* would fit, but the writer has failed */
  tw_write_u16(&w, 0x0303);
  uint8_t two[2] = {4, 4};
  tw_write_bytes(&w, two, 2);
  assert_null(tw_write_span(&w, 0));
  assert_false(tw_writer_ok(&w));
  assert_int_equal(out[0], 1);
  assert_int_equal(out[1], 0xcc);
  assert_int_equal(out[2], 0xcc);
  assert_int_equal(out[3], 0xcc);
}

static void test_writer_exact_capacity_is_ok(void **state) {
  (void)state;
  uint8_t out[2];
  tw_writer w = tw_writer_init(out, sizeof out);
  tw_write_u16(&w, 0xbeef);
  assert_true(tw_writer_ok(&w));
  tw_write_bytes(&w, NULL, 0);
  assert_true(tw_writer_ok(&w));
  tw_write_u8(&w, 1);
  assert_false(tw_writer_ok(&w));
}

static void test_writer_reader_round_trip(void **state) {
  (void)state;
  uint8_t buf[32];
  tw_writer w = tw_writer_init(buf, sizeof buf);
  for (uint32_t i = 0; i < 8; i++) tw_write_u32(&w, i * 0x01010101u);
  assert_true(tw_writer_ok(&w));
  tw_reader r = tw_reader_init(buf, w.pos);
  for (uint32_t i = 0; i < 8; i++) assert_int_equal(tw_read_u32(&r), i * 0x01010101u);
  assert_true(tw_reader_done(&r));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reader_reads_big_endian_fields),
      cmocka_unit_test(test_reader_exact_length_is_ok),
      cmocka_unit_test(test_reader_past_end_fails_and_returns_zero),
      cmocka_unit_test(test_reader_failure_is_sticky),
      cmocka_unit_test(test_reader_u64_half_fits_fails_and_returns_zero),
      cmocka_unit_test(test_reader_span_and_rest),
      cmocka_unit_test(test_reader_empty_input),
      cmocka_unit_test(test_reader_huge_span_does_not_wrap),
      cmocka_unit_test(test_writer_writes_big_endian_fields),
      cmocka_unit_test(test_writer_past_end_fails_without_writing),
      cmocka_unit_test(test_writer_failure_is_sticky),
      cmocka_unit_test(test_writer_exact_capacity_is_ok),
      cmocka_unit_test(test_writer_reader_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
