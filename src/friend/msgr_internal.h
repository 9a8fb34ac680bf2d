/* What the Messenger files share: the tw_msgr struct, a friend, a file
 * transfer, and the functions each file offers the others. */
#ifndef TW_FRIEND_MSGR_INTERNAL_H
#define TW_FRIEND_MSGR_INTERNAL_H

#include "friend/msgr_wire.h"
#include "toxwire/env.h"
#include "toxwire/messenger.h"

extern const char tw_msgr_log_module[];

/* One file transfer, either direction. */
typedef struct tw_msgr_file {
  tw_msgr_file_state state;
  tw_msgr_file_dir dir;
  uint8_t number;
  bool paused_by_us, paused_by_peer;
  uint32_t type;
  uint64_t size;
  uint64_t position; /* out: next byte to read; in: next byte expected */
  uint8_t id[TW_MSGR_FILE_ID_LENGTH];
  uint8_t name[TW_MSGR_MAX_FILENAME_LENGTH];
  size_t name_len;
  tw_msgr_file_read_fn *read; /* out */
  void *read_ctx;
  uint32_t last_number; /* out, FINISHING: the last chunk's packet number */
} tw_msgr_file;

/* A friend's transfers, allocated on its first file. */
typedef struct tw_msgr_files {
  tw_msgr_file *slot[2][TW_MSGR_MAX_FILES_PER_DIRECTION]; /* [dir][number] */
  uint16_t next_pump; /* round robin over outgoing files */
  uint16_t count;     /* both directions */
} tw_msgr_files;

typedef struct tw_msgr_receipt {
  uint32_t packet_number;
  uint32_t message_id;
} tw_msgr_receipt;

/* A FILE_CONTROL that found the window full, sent on the next ack. */
typedef struct tw_msgr_outpkt {
  uint8_t len;
  uint8_t data[TW_MSGR_FILE_CONTROL_SEEK_SIZE];
} tw_msgr_outpkt;

/* What we owe a connected friend (bits of tw_msgr_friend.owed): sent in
 * this order on connection up and as our details change, resumed on the
 * next ack when the window was full. */
enum {
  TW_MSGR_OWE_ONLINE = 1 << 0,
  TW_MSGR_OWE_NAME = 1 << 1,
  TW_MSGR_OWE_STATUS_MESSAGE = 1 << 2,
  TW_MSGR_OWE_USER_STATUS = 1 << 3,
  TW_MSGR_OWE_TYPING = 1 << 4,
};

typedef struct tw_msgr_friend {
  tw_key pk;
  uint32_t conn_id;
  bool connected; /* the transport's connection is up */
  bool online;    /* its ONLINE arrived (and no OFFLINE since) */
  uint8_t owed;
  bool typing_to; /* we are typing to it */
  /* What it told us. */
  uint8_t name[TW_MSGR_MAX_NAME_LENGTH];
  size_t name_len;
  uint8_t status_message[TW_MSGR_MAX_STATUS_MESSAGE_LENGTH];
  size_t status_message_len;
  tw_msgr_user_status user_status;
  bool typing;
  tw_time_ms last_seen;
  /* Friend request we send until it comes online. */
  bool request_pending;
  uint32_t request_nospam;
  uint8_t request_message[TW_MSGR_MAX_FRIEND_REQUEST_LENGTH];
  size_t request_len;
  tw_time_ms request_next;
  uint64_t request_interval;
  /* Messages waiting for receipts, oldest first (a ring). */
  uint32_t next_message_id;
  tw_msgr_receipt *receipts;
  size_t receipt_cap, receipt_head, receipt_count;
  /* File controls held while the window was full, oldest first. */
  tw_msgr_outpkt outbox[TW_MSGR_OUTBOX_PACKETS];
  uint8_t outbox_head, outbox_count;
  tw_msgr_files *files;
} tw_msgr_friend;

struct tw_msgr {
  tw_key self_pk;
  uint32_t nospam;
  uint8_t name[TW_MSGR_MAX_NAME_LENGTH];
  size_t name_len;
  uint8_t status_message[TW_MSGR_MAX_STATUS_MESSAGE_LENGTH];
  size_t status_message_len;
  tw_msgr_user_status user_status;
  tw_msgr_transport t;
  tw_msgr_event_fn *on_event;
  void *event_ctx;
  tw_env env;
  tw_msgr_friend *friends[TW_MSGR_MAX_FRIENDS];
  uint32_t friend_slots; /* one past the highest slot ever used */
  /* Recent friend request senders, a ring: repeats are dropped. */
  tw_key recent[TW_MSGR_RECENT_REQUESTS];
  uint8_t recent_next, recent_count;
  tw_msgr_stats stats;
  bool busy; /* inside an application callback: refuse re-entry */
};

/* API functions refuse to run inside an application callback. */
#define TW_MSGR_GUARD(m)       \
  do {                         \
    if ((m)->busy) return TW_E_INVAL; \
  } while (0)

/* messenger.c */
void tw_msgr_emit(tw_msgr *m, tw_msgr_event *ev);
/* Counts a dropped input and returns code. */
int tw_msgr_drop(tw_msgr *m, int code);
tw_msgr_friend *tw_msgr_friend_at(const tw_msgr *m, uint32_t friend_number);
/* Encodes p and sends it lossless; *number may be NULL. */
int tw_msgr_send_packet(tw_msgr *m, tw_msgr_friend *f, const tw_msgr_packet *p,
                        uint32_t *number, tw_time_ms now);
int tw_msgr_send_raw(tw_msgr *m, tw_msgr_friend *f, const uint8_t *data, size_t len,
                     uint32_t *number, tw_time_ms now);

/* msgr_friend.c */
int tw_msgr_friend_handle_packet(tw_msgr *m, uint32_t fn, tw_msgr_friend *f,
                                 const tw_msgr_packet *p, tw_time_ms now);
/* Sends what we owe f (ONLINE, our details) while the window allows. */
void tw_msgr_friend_flush(tw_msgr *m, tw_msgr_friend *f, tw_time_ms now);
void tw_msgr_friend_connection(tw_msgr *m, uint32_t fn, tw_msgr_friend *f, bool up,
                               tw_time_ms now);
void tw_msgr_receipts_check(tw_msgr *m, uint32_t fn, tw_msgr_friend *f, tw_time_ms now);
void tw_msgr_friend_destroy(tw_msgr_friend *f);

/* friend_request.c */
void tw_msgr_request_start(tw_msgr *m, tw_msgr_friend *f, uint32_t nospam, const uint8_t *msg,
                           size_t len, tw_time_ms now);
void tw_msgr_requests_on_timer(tw_msgr *m, tw_time_ms now);
tw_time_ms tw_msgr_requests_deadline(const tw_msgr *m);
int tw_msgr_request_handle(tw_msgr *m, const tw_key *sender, const uint8_t *data, size_t len,
                           tw_time_ms now);

/* file_transfer.c */
int tw_msgr_file_handle_packet(tw_msgr *m, uint32_t fn, tw_msgr_friend *f,
                               const tw_msgr_packet *p, tw_time_ms now);
/* Finished outgoing files, then more data while there is send space. */
void tw_msgr_files_on_acked(tw_msgr *m, uint32_t fn, tw_msgr_friend *f, tw_time_ms now);
/* Ends every transfer of f with a FILE_CLOSED (OFFLINE) each, and drops
 * the held controls. */
void tw_msgr_files_clear(tw_msgr *m, uint32_t fn, tw_msgr_friend *f, tw_time_ms now);
/* Queues (or sends) a FILE_CONTROL, in order with those already held. */
int tw_msgr_file_send_control(tw_msgr *m, tw_msgr_friend *f, uint8_t send_receive,
                              uint8_t number, uint8_t control, uint64_t seek, tw_time_ms now);

#endif
