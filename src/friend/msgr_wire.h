/* Messenger packets on the wire (spec "Messenger", "Friend requests"):
 * the lossless packets a friend connection carries ([id][payload]), the
 * custom lossy ones, and the friend request inside onion data. Pure
 * functions: no state, no time. spec/messenger.md has each layout. */
#ifndef TW_FRIEND_MSGR_WIRE_H
#define TW_FRIEND_MSGR_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "toxwire/messenger.h"

/* Packet ids (the first data byte). */
enum {
  TW_MSGR_ID_NC_FRIEND_REQUEST = 0x12, /* over net_crypto: group peers only; unused */
  TW_MSGR_ID_ONLINE = 0x18,
  TW_MSGR_ID_OFFLINE = 0x19,
  TW_MSGR_ID_NICKNAME = 0x30,
  TW_MSGR_ID_STATUSMESSAGE = 0x31,
  TW_MSGR_ID_USERSTATUS = 0x32,
  TW_MSGR_ID_TYPING = 0x33,
  TW_MSGR_ID_MESSAGE = 0x40,
  TW_MSGR_ID_ACTION = 0x41,
  TW_MSGR_ID_MSI = 0x45,
  TW_MSGR_ID_FILE_SENDREQUEST = 0x50,
  TW_MSGR_ID_FILE_CONTROL = 0x51,
  TW_MSGR_ID_FILE_DATA = 0x52,
  TW_MSGR_ID_INVITE_GROUPCHAT = 0x60,
  TW_MSGR_ID_ONLINE_PACKET = 0x61,
  TW_MSGR_ID_DIRECT_GROUPCHAT = 0x62,
  TW_MSGR_ID_MESSAGE_GROUPCHAT = 0x63,
  TW_MSGR_ID_LOSSY_GROUPCHAT = 0xc7,
};

/* The onion data kind of a friend request. */
#define TW_MSGR_ONION_FRIEND_REQUEST 32

/* Sizes, whole packets with the id byte. */
#define TW_MSGR_USERSTATUS_SIZE 2
#define TW_MSGR_TYPING_SIZE 2
#define TW_MSGR_FILE_SENDREQUEST_MIN (1 + 1 + 4 + 8 + TW_MSGR_FILE_ID_LENGTH) /* 46 */
#define TW_MSGR_FILE_SENDREQUEST_MAX (TW_MSGR_FILE_SENDREQUEST_MIN + TW_MSGR_MAX_FILENAME_LENGTH)
#define TW_MSGR_FILE_CONTROL_SIZE 4
#define TW_MSGR_FILE_CONTROL_SEEK_SIZE 12
#define TW_MSGR_FILE_DATA_MIN 2
#define TW_MSGR_FILE_DATA_MAX (2 + TW_MSGR_FILE_CHUNK_SIZE) /* 1373 */
#define TW_MSGR_MAX_PACKET 1373 /* the most a data packet carries */
/* [32][nospam BE][message] */
#define TW_MSGR_FRIEND_REQUEST_MIN (1 + 4 + 1)
#define TW_MSGR_FRIEND_REQUEST_MAX (1 + 4 + TW_MSGR_MAX_FRIEND_REQUEST_LENGTH)

/* FILE_CONTROL's send_receive byte, from the control's sender's view. */
enum {
  TW_MSGR_SR_SENDING = 0,   /* the file the control's sender sends */
  TW_MSGR_SR_RECEIVING = 1, /* the file the control's sender receives */
};

/* One decoded Messenger packet; which fields mean something depends on id.
 * Spans point into the input. */
typedef struct tw_msgr_packet {
  uint8_t id;
  const uint8_t *text;  /* NICKNAME, STATUSMESSAGE, MESSAGE, ACTION: the text;
                           FILE_SENDREQUEST: file name; FILE_DATA: the chunk;
                           custom: the payload after the id */
  size_t text_len;
  uint8_t value;        /* USERSTATUS, TYPING */
  uint8_t file_number;  /* FILE_* */
  uint32_t file_type;   /* FILE_SENDREQUEST */
  uint64_t file_size;
  const uint8_t *file_id;
  uint8_t send_receive; /* FILE_CONTROL */
  uint8_t control;
  uint64_t seek;        /* FILE_CONTROL with control SEEK */
} tw_msgr_packet;

/* A lossless packet: TW_E_SHORT / TW_E_LONG for wrong lengths,
 * TW_E_FORMAT for a field out of range (user status > 2, typing > 1,
 * send_receive > 1, control > 3), TW_E_DISABLED for ids we know but do not
 * implement (group chats), TW_E_KIND for others. Custom ids 69 and 160..191
 * decode with text = payload. */
int tw_msgr_packet_decode(tw_msgr_packet *p, const uint8_t *in, size_t len);
/* A lossy packet: custom 192..254; TW_E_KIND for others. */
int tw_msgr_lossy_decode(tw_msgr_packet *p, const uint8_t *in, size_t len);
/* Writes p (lossless or lossy id) into out; returns its length, or
 * TW_E_INVAL / TW_E_LONG / TW_E_FORMAT / TW_E_KIND when p is not a packet
 * the decoders would accept. */
int tw_msgr_packet_encode(uint8_t *out, size_t cap, const tw_msgr_packet *p);

typedef struct tw_msgr_friend_request {
  uint32_t nospam;
  const uint8_t *message;
  size_t message_len;
} tw_msgr_friend_request;

/* Onion data [32][nospam][message 1..1016]. TW_E_KIND for another kind. */
int tw_msgr_friend_request_decode(tw_msgr_friend_request *req, const uint8_t *in, size_t len);
int tw_msgr_friend_request_encode(uint8_t *out, size_t cap, const tw_msgr_friend_request *req);

#endif
