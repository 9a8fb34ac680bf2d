/* Fuzzes Tox ID and key parsing: tw_toxid_parse and tw_key_from_hex on the
 * input as text, tw_toxid_unpack on it as bytes. What parses must format
 * back to the same ID, and what unpacks must pack back to the same bytes. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "toxwire/error.h"
#include "toxwire/toxid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* As text: NUL-terminated copy (an embedded NUL ends the string). */
  char *text = malloc(size + 1);
  if (text == NULL) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  tw_toxid id;
  int e = tw_toxid_parse(&id, text);
  FUZZ_CHECK(e == TW_OK || e == TW_E_SHORT || e == TW_E_LONG || e == TW_E_HEX ||
             e == TW_E_CHECKSUM);
  if (e == TW_OK) {
    FUZZ_CHECK(strlen(text) == 2 * TW_TOXID_SIZE);
    char again[TW_TOXID_HEXLEN];
    tw_toxid_format(&id, again);
    for (size_t i = 0; i < 2 * TW_TOXID_SIZE; i++)
      FUZZ_CHECK(toupper((unsigned char)text[i]) == again[i]);
    tw_toxid back;
    FUZZ_CHECK(tw_toxid_parse(&back, again) == TW_OK);
    FUZZ_CHECK(memcmp(&back.pk, &id.pk, sizeof id.pk) == 0 && back.nospam == id.nospam);
  }
  tw_key k;
  e = tw_key_from_hex(&k, text, strlen(text));
  FUZZ_CHECK(e == TW_OK || e == TW_E_SHORT || e == TW_E_LONG || e == TW_E_HEX);
  if (e == TW_OK) {
    char hex[TW_KEY_HEXLEN];
    tw_key_to_hex(&k, hex);
    for (size_t i = 0; i < 2 * TW_PUBLIC_KEY_SIZE; i++)
      FUZZ_CHECK(toupper((unsigned char)text[i]) == hex[i]);
  }
  free(text);

  /* As bytes. */
  uint8_t *raw = malloc(size ? size : 1);
  if (raw == NULL) return 0;
  memcpy(raw, data, size);
  e = tw_toxid_unpack(&id, raw, size);
  FUZZ_CHECK(e == TW_OK || e == TW_E_SHORT || e == TW_E_LONG || e == TW_E_CHECKSUM);
  if (e == TW_OK) {
    uint8_t again[TW_TOXID_SIZE];
    tw_toxid_pack(&id, again);
    FUZZ_CHECK(size == TW_TOXID_SIZE && memcmp(again, raw, size) == 0);
  }
  free(raw);
  return 0;
}
