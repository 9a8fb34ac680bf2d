/* Messenger, sans-I/O: the friend layer on top of friend connections (spec
 * "Messenger", "Friend requests"; spec/messenger.md). Friends and their
 * online status, nicknames, status messages, user status, typing, text
 * messages with read receipts, custom packets, friend requests and file
 * transfers, in the packets c-toxcore's Messenger speaks.
 *
 * A tw_msgr reaches the layer below only through the tw_msgr_transport it
 * is given (function pointers: the friend connection layer in a node, a
 * fake in tests), and is told what happens below through the
 * tw_msgr_handle_* inputs. It reports to the application through one event
 * callback.
 *
 * Friend numbers are small integers chosen here (0, 1, 2...; a deleted
 * friend's number is reused), not the transport's connection ids.
 *
 * Re-entrance: neither the event callback nor a file read callback may call
 * any tw_msgr_* function on the same tw_msgr (such calls return
 * TW_E_INVAL). Record what you need and act after the call returns. */
#ifndef TOXWIRE_MESSENGER_H
#define TOXWIRE_MESSENGER_H

#include "env.h"
#include "error.h"
#include "toxid.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sizes from the spec (the payload after the one-byte packet id). */
#define TW_MSGR_MAX_NAME_LENGTH 128
#define TW_MSGR_MAX_STATUS_MESSAGE_LENGTH 1007
#define TW_MSGR_MAX_MESSAGE_LENGTH 1372
#define TW_MSGR_MAX_FILENAME_LENGTH 255
#define TW_MSGR_FILE_ID_LENGTH 32
#define TW_MSGR_FILE_CHUNK_SIZE 1371            /* FILE_DATA payload; shorter ends a file */
#define TW_MSGR_FILE_SIZE_UNKNOWN UINT64_MAX    /* a stream, ended by a short chunk */
#define TW_MSGR_MAX_FILES_PER_DIRECTION 256     /* one byte file number */
#define TW_MSGR_MAX_CUSTOM_PACKET_SIZE 1373     /* [id][payload] */
/* A friend request's message: the onion data limit less [32][nospam]. */
#define TW_MSGR_MAX_FRIEND_REQUEST_LENGTH 1016

/* Custom packet ids the application may use (and 69, lossless: see
 * tw_msgr_send_custom_lossless). */
#define TW_MSGR_CUSTOM_LOSSLESS_FIRST 160
#define TW_MSGR_CUSTOM_LOSSLESS_LAST 191
#define TW_MSGR_CUSTOM_LOSSY_FIRST 192
#define TW_MSGR_CUSTOM_LOSSY_LAST 254

/* Our choices (spec/messenger.md says why). */
#define TW_MSGR_MAX_FRIENDS 1024
#define TW_MSGR_REQUEST_FIRST_INTERVAL_MS 2000  /* then 4 s, 8 s, ... */
#define TW_MSGR_REQUEST_MAX_INTERVAL_MS (1ULL << 40) /* doubling stops here */
#define TW_MSGR_REQUEST_RETRY_MS 1000           /* after a request could not be sent */
#define TW_MSGR_RECENT_REQUESTS 32              /* senders remembered for dedupe */
#define TW_MSGR_MAX_PENDING_RECEIPTS 4096       /* unconfirmed messages per friend */
#define TW_MSGR_FILE_RESERVE_PACKETS 8          /* send space file data leaves free */
#define TW_MSGR_OUTBOX_PACKETS 32               /* file controls held while full */

typedef struct tw_msgr tw_msgr;

typedef enum tw_msgr_user_status {
  TW_MSGR_USER_ONLINE = 0,
  TW_MSGR_USER_AWAY = 1,
  TW_MSGR_USER_BUSY = 2,
} tw_msgr_user_status;

typedef enum tw_msgr_message_type {
  TW_MSGR_MESSAGE_NORMAL = 0, /* MESSAGE 0x40 */
  TW_MSGR_MESSAGE_ACTION = 1, /* ACTION 0x41 ("/me") */
} tw_msgr_message_type;

typedef enum tw_msgr_file_dir {
  TW_MSGR_FILE_OUT = 0, /* we send it; we chose its number */
  TW_MSGR_FILE_IN = 1,  /* the friend sends it; it chose the number */
} tw_msgr_file_dir;

/* FILE_CONTROL's control types, with their wire values. */
typedef enum tw_msgr_file_ctl {
  TW_MSGR_FILE_RESUME = 0, /* accept a file, or unpause our own pause */
  TW_MSGR_FILE_PAUSE = 1,
  TW_MSGR_FILE_KILL = 2,   /* refuse or cancel, by either side, any time */
  TW_MSGR_FILE_SEEK = 3,   /* receiver, before accepting: start here */
} tw_msgr_file_ctl;

/* One transfer's progress. Pauses are flags beside it. */
typedef enum tw_msgr_file_state {
  TW_MSGR_FILE_NONE = 0,         /* no such transfer */
  TW_MSGR_FILE_PENDING = 1,      /* request sent / received, not accepted */
  TW_MSGR_FILE_TRANSFERRING = 2, /* accepted; data flows unless paused */
  TW_MSGR_FILE_FINISHING = 3,    /* outgoing: last chunk sent, not yet confirmed */
} tw_msgr_file_state;

typedef enum tw_msgr_file_close_reason {
  TW_MSGR_CLOSE_PEER_KILLED = 1, /* the friend refused or cancelled it */
  TW_MSGR_CLOSE_OFFLINE = 2,     /* the friend went offline */
  TW_MSGR_CLOSE_READ_ERROR = 3,  /* outgoing: the read callback failed or fell short */
} tw_msgr_file_close_reason;

/* ---- the layer below ---- */

/* Every call gets the transport's ctx. Return TW_OK or a negative TW_E_*. */
typedef struct tw_msgr_transport {
  void *ctx;
  /* Starts connecting to a friend; *conn_id names the connection in later
   * calls and in the tw_msgr_handle_* inputs. */
  int (*friend_add)(void *ctx, const tw_key *pk, uint32_t *conn_id, tw_time_ms now);
  int (*friend_remove)(void *ctx, uint32_t conn_id, tw_time_ms now);
  /* [id][payload], ordered and reliable. *number: the packet's number for
   * delivered(). TW_E_FULL when the window is full, TW_E_NOROUTE when the
   * connection is not up. */
  int (*send_lossless)(void *ctx, uint32_t conn_id, const uint8_t *data, size_t len,
                       uint32_t *number, tw_time_ms now);
  int (*send_lossy)(void *ctx, uint32_t conn_id, const uint8_t *data, size_t len,
                    tw_time_ms now);
  /* True once the friend confirmed lossless packet number. */
  bool (*delivered)(void *ctx, uint32_t conn_id, uint32_t number);
  /* Lossless packets send_lossless takes now before TW_E_FULL. */
  uint32_t (*send_space)(void *ctx, uint32_t conn_id);
  /* Onion data [kind][data] to a key that need not be connected (friend
   * requests, kind 32). Returns >= 0 when sent, TW_E_NOROUTE when the
   * onion has not found the key yet. */
  int (*send_onion_data)(void *ctx, const tw_key *to, const uint8_t *data, size_t len,
                         tw_time_ms now);
} tw_msgr_transport;

/* ---- events to the application ---- */

typedef enum tw_msgr_event_kind {
  TW_MSGR_EV_FRIEND_REQUEST = 1,   /* pk, data/len: the message */
  TW_MSGR_EV_CONNECTION = 2,       /* friend, online: went online / offline */
  TW_MSGR_EV_NAME = 3,             /* friend, data/len */
  TW_MSGR_EV_STATUS_MESSAGE = 4,   /* friend, data/len */
  TW_MSGR_EV_USER_STATUS = 5,      /* friend, user_status */
  TW_MSGR_EV_TYPING = 6,           /* friend, typing */
  TW_MSGR_EV_MESSAGE = 7,          /* friend, message_type, data/len */
  TW_MSGR_EV_READ_RECEIPT = 8,     /* friend, message_id */
  TW_MSGR_EV_CUSTOM_LOSSLESS = 9,  /* friend, data/len: [id][payload] */
  TW_MSGR_EV_CUSTOM_LOSSY = 10,    /* friend, data/len: [id][payload] */
  TW_MSGR_EV_FILE_REQUEST = 11,    /* friend, file_number, file_type, file_size,
                                      file_id, data/len: the file name */
  TW_MSGR_EV_FILE_CHUNK = 12,      /* friend, file_number, position, data/len */
  TW_MSGR_EV_FILE_CONTROL = 13,    /* friend, dir, file_number, control: the friend
                                      accepted / resumed / paused (SEEK: position) */
  TW_MSGR_EV_FILE_DONE = 14,       /* friend, dir, file_number, position: complete */
  TW_MSGR_EV_FILE_CLOSED = 15,     /* friend, dir, file_number, close_reason */
} tw_msgr_event_kind;

typedef struct tw_msgr_event {
  tw_msgr_event_kind kind;
  uint32_t friend_number;   /* every kind but FRIEND_REQUEST */
  tw_time_ms time;
  const tw_key *pk;         /* the friend's (or requester's) long-term key */
  const uint8_t *data;      /* valid during the call only */
  size_t len;
  bool online;
  bool typing;
  tw_msgr_user_status user_status;
  tw_msgr_message_type message_type;
  uint32_t message_id;
  tw_msgr_file_dir dir;
  uint8_t file_number;
  uint32_t file_type;       /* 0 data, 1 avatar: passed through untouched */
  uint64_t file_size;
  const uint8_t *file_id;   /* TW_MSGR_FILE_ID_LENGTH bytes */
  uint64_t position;
  tw_msgr_file_ctl control;
  tw_msgr_file_close_reason close_reason;
} tw_msgr_event;

typedef void tw_msgr_event_fn(void *ctx, const tw_msgr_event *ev);

/* Supplies the bytes of an outgoing file: fills buf with up to len bytes
 * from position and returns how many (len, except at the end of a stream of
 * unknown size, where fewer ends it), or a negative value on error (the
 * transfer is then killed). */
typedef int tw_msgr_file_read_fn(void *ctx, uint64_t position, uint8_t *buf, size_t len);

/* ---- lifetime ---- */

typedef struct tw_msgr_config {
  tw_key self_pk;           /* our long-term key (the secret stays below) */
  uint32_t nospam;
  const uint8_t *name;      /* up to TW_MSGR_MAX_NAME_LENGTH */
  size_t name_len;
  const uint8_t *status_message; /* up to TW_MSGR_MAX_STATUS_MESSAGE_LENGTH */
  size_t status_message_len;
  tw_msgr_user_status user_status;
  tw_msgr_transport transport; /* every function required */
  tw_msgr_event_fn *on_event;  /* may be NULL */
  void *event_ctx;
} tw_msgr_config;

typedef struct tw_msgr_stats {
  uint64_t lossless_in, lossy_in, lossless_out, lossy_out; /* packets */
  uint64_t messages_in, messages_out, receipts;
  uint64_t requests_sent, requests_received; /* received: passed to the app */
  uint64_t files_sent, files_received;       /* completed transfers */
  uint64_t file_bytes_sent, file_bytes_received;
  uint64_t dropped[TW_ERROR_COUNT];          /* indexed by -error */
  uint64_t dropped_total;
  uint32_t friends, online;
} tw_msgr_stats;

/* NULL on a bad config (a missing transport function, a name too long) or
 * no memory. env gives randomness (file ids) and the log. */
tw_msgr *tw_msgr_new(const tw_msgr_config *cfg, const tw_env *env);
/* Frees everything; tells the transport nothing. */
void tw_msgr_free(tw_msgr *m);

/* ---- inputs from the layer below ---- */

/* A friend connection came up (Established) or went down. */
int tw_msgr_handle_connection(tw_msgr *m, uint32_t conn_id, bool up, tw_time_ms now);
/* In-order lossless data from a friend: [id][payload]. Returns TW_OK or why
 * it was dropped (also counted in stats.dropped). */
int tw_msgr_handle_lossless(tw_msgr *m, uint32_t conn_id, const uint8_t *data, size_t len,
                            tw_time_ms now);
int tw_msgr_handle_lossy(tw_msgr *m, uint32_t conn_id, const uint8_t *data, size_t len,
                         tw_time_ms now);
/* The friend confirmed lossless packets: receipts, finished files, and
 * more file data while there is send space. */
int tw_msgr_handle_acked(tw_msgr *m, uint32_t conn_id, tw_time_ms now);
/* Onion data for us from sender: [kind][payload]; kind 32 is a friend
 * request. */
int tw_msgr_handle_onion_data(tw_msgr *m, const tw_key *sender, const uint8_t *data, size_t len,
                              tw_time_ms now);
/* Friend requests due. */
void tw_msgr_on_timer(tw_msgr *m, tw_time_ms now);
/* When on_timer next has work; TW_NEVER for none. */
tw_time_ms tw_msgr_next_deadline(const tw_msgr *m);

/* ---- ourselves ---- */

int tw_msgr_set_name(tw_msgr *m, const uint8_t *name, size_t len, tw_time_ms now);
int tw_msgr_set_status_message(tw_msgr *m, const uint8_t *msg, size_t len, tw_time_ms now);
int tw_msgr_set_user_status(tw_msgr *m, tw_msgr_user_status status, tw_time_ms now);
/* Whether we are typing to this friend (sent now if online, and again each
 * time it comes online). */
int tw_msgr_set_typing(tw_msgr *m, uint32_t friend_number, bool typing, tw_time_ms now);
/* Our Tox ID: our key, our nospam, the checksum. */
void tw_msgr_get_address(const tw_msgr *m, uint8_t out[TW_TOXID_SIZE]);
void tw_msgr_set_nospam(tw_msgr *m, uint32_t nospam);
uint32_t tw_msgr_get_nospam(const tw_msgr *m);

/* ---- friends ---- */

/* Adds the owner of a Tox ID (38 bytes) and sends it friend requests with
 * message (1..TW_MSGR_MAX_FRIEND_REQUEST_LENGTH bytes) by onion, 2 s, 4 s,
 * 8 s... apart, until it comes online. Errors: TW_E_SHORT / TW_E_LONG
 * (message length, or a Tox ID of another length), TW_E_CHECKSUM,
 * TW_E_SELF (our own key), TW_E_REPLAY (already a friend; but a friend we
 * are still sending requests to gets the new nospam and message, TW_OK),
 * TW_E_FULL (TW_MSGR_MAX_FRIENDS), or the transport's friend_add error. */
int tw_msgr_friend_add(tw_msgr *m, const uint8_t *toxid, size_t toxid_len, const uint8_t *message,
                       size_t len, uint32_t *friend_number, tw_time_ms now);
/* Adds a friend without a request (to accept one). TW_E_SELF, TW_E_REPLAY,
 * TW_E_FULL as above. */
int tw_msgr_friend_add_norequest(tw_msgr *m, const tw_key *pk, uint32_t *friend_number,
                                 tw_time_ms now);
/* Sends OFFLINE first if the connection is up, then removes the friend
 * from the transport. Its transfers end without events. */
int tw_msgr_friend_delete(tw_msgr *m, uint32_t friend_number, tw_time_ms now);
int tw_msgr_friend_by_pk(const tw_msgr *m, const tw_key *pk, uint32_t *friend_number);
/* Writes up to max friend numbers, ascending; returns how many friends
 * there are. */
size_t tw_msgr_friend_list(const tw_msgr *m, uint32_t *out, size_t max);

typedef struct tw_msgr_friend_info {
  tw_key pk;
  bool connected;        /* the friend connection is up */
  bool online;           /* its ONLINE arrived: what a client shows */
  bool request_pending;  /* we still send it friend requests */
  uint8_t name[TW_MSGR_MAX_NAME_LENGTH];
  size_t name_len;
  uint8_t status_message[TW_MSGR_MAX_STATUS_MESSAGE_LENGTH];
  size_t status_message_len;
  tw_msgr_user_status user_status;
  bool typing;
  tw_time_ms last_seen;  /* last time it went online or offline; 0 never */
} tw_msgr_friend_info;

int tw_msgr_friend_get_info(const tw_msgr *m, uint32_t friend_number, tw_msgr_friend_info *out);

/* ---- messages and custom packets ---- */

/* Sends a MESSAGE or ACTION of 1..TW_MSGR_MAX_MESSAGE_LENGTH bytes to an
 * online friend. *message_id (per friend, from 1) comes back in a
 * READ_RECEIPT event once the friend confirmed the packet. Messages to an
 * offline friend are refused with TW_E_NOROUTE, not queued. TW_E_FULL when
 * the window is full or TW_MSGR_MAX_PENDING_RECEIPTS are unconfirmed. */
int tw_msgr_send_message(tw_msgr *m, uint32_t friend_number, tw_msgr_message_type type,
                         const uint8_t *text, size_t len, uint32_t *message_id, tw_time_ms now);
/* [id][payload] with id 69 or 160..191 (lossless) or 192..254 (lossy), as
 * c-toxcore's API allows, at most
 * TW_MSGR_MAX_CUSTOM_PACKET_SIZE bytes, to an online friend. */
int tw_msgr_send_custom_lossless(tw_msgr *m, uint32_t friend_number, const uint8_t *data,
                                 size_t len, tw_time_ms now);
int tw_msgr_send_custom_lossy(tw_msgr *m, uint32_t friend_number, const uint8_t *data,
                              size_t len, tw_time_ms now);

/* ---- file transfers ---- */

/* Offers a file to an online friend: size in bytes (0 allowed,
 * TW_MSGR_FILE_SIZE_UNKNOWN for a stream), file_id (NULL: random), a name
 * of up to TW_MSGR_MAX_FILENAME_LENGTH bytes, and the callback that reads
 * its data once accepted. *file_number: the lowest free outgoing number.
 * TW_E_FULL: 256 outgoing files, or the window is full. */
int tw_msgr_file_send(tw_msgr *m, uint32_t friend_number, uint32_t file_type, uint64_t size,
                      const uint8_t *file_id, const uint8_t *name, size_t name_len,
                      tw_msgr_file_read_fn *read, void *read_ctx, uint8_t *file_number,
                      tw_time_ms now);
/* RESUME accepts an incoming file (or lifts our own pause, either way);
 * PAUSE pauses an accepted transfer; KILL ends any transfer. SEEK is
 * tw_msgr_file_seek. TW_E_NOTFOUND for no such transfer, TW_E_INVAL for a
 * control its state does not allow. */
int tw_msgr_file_control(tw_msgr *m, uint32_t friend_number, tw_msgr_file_dir dir,
                         uint8_t file_number, tw_msgr_file_ctl control, tw_time_ms now);
/* Before accepting an incoming file: ask the sender to start at position
 * (< its size). */
int tw_msgr_file_seek(tw_msgr *m, uint32_t friend_number, uint8_t file_number, uint64_t position,
                      tw_time_ms now);

typedef struct tw_msgr_file_info {
  tw_msgr_file_state state;
  bool paused_by_us, paused_by_peer;
  uint32_t file_type;
  uint64_t size;
  uint64_t position;   /* next byte sent / expected */
  uint8_t file_id[TW_MSGR_FILE_ID_LENGTH];
  uint8_t name[TW_MSGR_MAX_FILENAME_LENGTH];
  size_t name_len;
} tw_msgr_file_info;

/* TW_E_NOTFOUND (and state NONE) when there is no such transfer. */
int tw_msgr_file_get_info(const tw_msgr *m, uint32_t friend_number, tw_msgr_file_dir dir,
                          uint8_t file_number, tw_msgr_file_info *out);

void tw_msgr_get_stats(const tw_msgr *m, tw_msgr_stats *out);
const char *tw_msgr_event_kind_name(tw_msgr_event_kind k);

#ifdef __cplusplus
}
#endif
#endif
