/* The profile: what a Tox client keeps across restarts (its long-term key
 * pair, nospam, name and status, its friends, and nodes to reconnect
 * through), held in memory as a tw_profile.
 *
 * toxwire saves profiles in its own format (spec/profile.md): versioned,
 * made of typed, length-prefixed sections, and ending in a BLAKE2b-256
 * checksum so that a truncated or damaged file is refused rather than half
 * read. It also reads c-toxcore's unencrypted savedata (tox_get_savedata),
 * so a c-toxcore user can bring their identity and friends along.
 *
 * Encoding and decoding are sans-I/O (bytes in, bytes out). The file
 * functions at the end live in the I/O library (src/io/profile_file.c). */
#ifndef TOXWIRE_PROFILE_H
#define TOXWIRE_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Text limits are c-toxcore's (TOX_MAX_NAME_LENGTH, ..._STATUS_MESSAGE_...,
 * ..._FRIEND_REQUEST_...), so every profile converts both ways. */
#define TW_PROFILE_MAX_NAME 128
#define TW_PROFILE_MAX_STATUS_MESSAGE 1007
#define TW_PROFILE_MAX_REQUEST_MESSAGE 1016
#define TW_PROFILE_MAX_FRIENDS 1024
/* Nodes kept to reconnect faster: at most this many UDP (DHT) nodes and
 * this many TCP relays. */
#define TW_PROFILE_MAX_UDP_NODES 64
#define TW_PROFILE_MAX_TCP_RELAYS 64
#define TW_PROFILE_MAX_NODES (TW_PROFILE_MAX_UDP_NODES + TW_PROFILE_MAX_TCP_RELAYS)
/* The file functions refuse anything bigger: a full profile (1024 friends
 * with every text at its limit) takes about 2.3 MB in either format. */
#define TW_PROFILE_MAX_FILE_SIZE (4u * 1024 * 1024)
/* Size of the buffer that receives the reason a profile was refused. */
#define TW_PROFILE_WHY_SIZE 96

/* The format version tw_profile_encode writes and tw_profile_decode reads. */
#define TW_PROFILE_VERSION 1

typedef enum tw_profile_friend_status {
  TW_PROFILE_FRIEND_REQUEST_SENT = 1, /* added by Tox ID; not confirmed yet */
  TW_PROFILE_FRIEND_CONFIRMED = 2,    /* both sides agreed */
} tw_profile_friend_status;

/* Values as Tox's user status (TOX_USER_STATUS_*). */
typedef enum tw_profile_user_status {
  TW_PROFILE_USER_ONLINE = 0,
  TW_PROFILE_USER_AWAY = 1,
  TW_PROFILE_USER_BUSY = 2,
} tw_profile_user_status;

typedef struct tw_profile_friend {
  tw_key pk;
  uint8_t status;          /* tw_profile_friend_status */
  uint32_t nospam;         /* of the Tox ID we added them by; 0 if none */
  uint8_t user_status;     /* their last known tw_profile_user_status */
  uint64_t last_seen_unix; /* seconds since 1970; 0: never seen */
  uint16_t name_len;
  uint16_t status_message_len;
  uint16_t request_message_len; /* what our friend request said */
  uint8_t name[TW_PROFILE_MAX_NAME];
  uint8_t status_message[TW_PROFILE_MAX_STATUS_MESSAGE];
  uint8_t request_message[TW_PROFILE_MAX_REQUEST_MESSAGE];
} tw_profile_friend;

typedef struct tw_profile {
  tw_keypair keys; /* long-term key pair */
  uint32_t nospam;
  uint8_t user_status; /* tw_profile_user_status */
  uint16_t name_len;
  uint16_t status_message_len;
  uint8_t name[TW_PROFILE_MAX_NAME];
  uint8_t status_message[TW_PROFILE_MAX_STATUS_MESSAGE];
  tw_profile_friend *friends; /* friend_count entries, owned by the profile */
  size_t friend_count;
  size_t friend_cap;
  tw_node_info nodes[TW_PROFILE_MAX_NODES]; /* UDP nodes and TCP relays */
  size_t node_count;
} tw_profile;

/* An empty profile (no keys yet: set p->keys before encoding). Overwrites
 * *p without freeing anything. */
void tw_profile_init(tw_profile *p);
/* Frees the friend list and wipes the whole profile, secret key included;
 * *p is then empty, as after tw_profile_init. */
void tw_profile_clear(tw_profile *p);

/* Copies f into the friend list. TW_E_FULL at TW_PROFILE_MAX_FRIENDS,
 * TW_E_INVAL if a friend with that key exists or a field is out of range,
 * TW_E_NOMEM. */
int tw_profile_add_friend(tw_profile *p, const tw_profile_friend *f);
/* The friend with this key, or NULL. */
tw_profile_friend *tw_profile_find_friend(const tw_profile *p, const tw_key *pk);
/* TW_E_NOTFOUND if there is no such friend; keeps the others' order. */
int tw_profile_remove_friend(tw_profile *p, const tw_key *pk);
/* Adds a node (n->tcp says which kind). A node already listed (same key,
 * address and kind) is not added twice. TW_E_FULL when its kind is at its
 * limit, TW_E_FAMILY for an address that is neither IPv4 nor IPv6. */
int tw_profile_add_node(tw_profile *p, const tw_node_info *n);

/* Same keys, texts, friends (in order) and nodes (in order). */
bool tw_profile_equal(const tw_profile *a, const tw_profile *b);

/* Encodes p in toxwire's format into a new buffer (*out, *len). The buffer
 * holds the secret key: release it with tw_profile_free_encoded. Refuses a
 * profile it could not read back: TW_E_FORMAT when the secret key does not
 * give the public key or a status is unknown, TW_E_LONG / TW_E_COUNT for a
 * text or list over its limit, TW_E_INVAL for a friend listed twice. */
int tw_profile_encode(const tw_profile *p, uint8_t **out, size_t *len);
/* Wipes and frees a buffer from tw_profile_encode (NULL is fine). */
void tw_profile_free_encoded(uint8_t *buf, size_t len);

/* The decoders overwrite *p (clear it first if it holds a profile). On
 * success *p holds the profile; on failure *p is empty and, when why is
 * not NULL, why[] (TW_PROFILE_WHY_SIZE bytes) says what was wrong, e.g.
 * "truncated (100 of 5622 bytes)", "checksum mismatch", "unknown version 2",
 * "secret key does not match public key", "friend list longer than 1024".
 * Codes: TW_E_SHORT (truncated), TW_E_CHECKSUM, TW_E_FORMAT (a field or
 * structure the format forbids), TW_E_LONG / TW_E_COUNT (over a limit),
 * TW_E_NOMEM. */

/* toxwire's own format. */
int tw_profile_decode(tw_profile *p, const uint8_t *in, size_t len, char *why);
/* c-toxcore's unencrypted savedata (0.2.x, "State Format" in the Tox spec).
 * Conferences and unknown sections are skipped; DHT nodes, path nodes and
 * TCP relays beyond the limits above are dropped. */
int tw_profile_decode_toxcore(tw_profile *p, const uint8_t *in, size_t len, char *why);
/* Either of the above, chosen by the first bytes. An encrypted c-toxcore
 * save ("toxEsave") is refused with TW_E_FORMAT. */
int tw_profile_decode_any(tw_profile *p, const uint8_t *in, size_t len, char *why);

/* ---- files (I/O library) ---- */

/* Reads and decodes (tw_profile_decode_any) the file at path. TW_E_NOTFOUND
 * if it does not exist, TW_E_LONG if it is bigger than
 * TW_PROFILE_MAX_FILE_SIZE, TW_E_IO when it cannot be read, or the
 * decoder's error. */
int tw_profile_load_file(const char *path, tw_profile *p, char *why);
/* Writes p in toxwire's format to path, atomically: the new profile goes to
 * a temporary file (mode 0600) in the same directory, is synced, and is
 * renamed over path; the directory is synced too. On any failure the
 * temporary file is removed and whatever was at path is unchanged. */
int tw_profile_save_file(const char *path, const tw_profile *p, char *why);
/* As tw_profile_save_file, but only when path does not exist or holds a
 * profile that tw_profile_load_file accepts (a c-toxcore save counts and
 * is replaced by toxwire's format). A file that fails to load is never
 * overwritten: the load's error code is returned and why says
 * "will not overwrite: <the load's reason>". (Another process could still
 * replace the file between the check and the rename.) */
int tw_profile_save_file_guarded(const char *path, const tw_profile *p, char *why);

#ifdef __cplusplus
}
#endif
#endif
