/* One encrypted TCP relay stream, either side: reassembly of the messages
 * a byte stream carries (the fixed-size handshake, then [u16 length][box]
 * frames), sealing and opening of frames with their counting nonces, and
 * the queue of bytes the socket has not taken yet. Shared by the server
 * and the client. */
#ifndef TW_TCP_STREAM_H
#define TW_TCP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "toxwire/tcp_relay.h"
#include "toxwire/types.h"

typedef struct tw_tcp_stream {
  uint8_t shared[TW_SHARED_KEY_SIZE];
  uint8_t send_nonce[TW_NONCE_SIZE]; /* from the base nonce we sent, counting up */
  uint8_t recv_nonce[TW_NONCE_SIZE]; /* from the base nonce they sent */
  /* input: a message split across reads waits here */
  uint8_t hdr[2];
  uint8_t hdr_have;
  bool part_done;    /* part holds a whole message handed out last call */
  uint16_t part_need, part_have;
  uint8_t *part;
  /* output */
  uint8_t *q;
  size_t q_head, q_len, q_cap;
} tw_tcp_stream;

/* Frees buffers and wipes the keys. */
void tw_tcp_stream_clear(tw_tcp_stream *st);

/* Takes bytes from p and n. Returns 1 with msg and msg_len when a whole
 * message is ready (valid until the next call), 0 when the input is used
 * up, or TW_E_LONG / TW_E_SHORT for a frame length out of range, or
 * TW_E_NOMEM. fixed > 0 reads one raw message of that size (a handshake);
 * fixed == 0 reads a length-prefixed frame. */
int tw_tcp_stream_next(tw_tcp_stream *st, const uint8_t **p, size_t *n, size_t fixed,
                       const uint8_t **msg, size_t *msg_len);
/* True while part of a message is waiting. */
bool tw_tcp_stream_partial(const tw_tcp_stream *st);

/* Opens a frame's box into plain (len - TW_MAC_SIZE bytes) with the next
 * receive nonce. TW_E_CRYPTO when it does not open. */
int tw_tcp_stream_open(tw_tcp_stream *st, const uint8_t *box, size_t len, uint8_t *plain);

/* Seals plain as the next frame onto the queue, unless the queue would
 * then hold more than limit bytes (TW_E_FULL). */
int tw_tcp_stream_seal(tw_tcp_stream *st, const uint8_t *plain, size_t len, size_t limit);
/* Queues raw bytes (the handshake and its answer). */
int tw_tcp_stream_queue_raw(tw_tcp_stream *st, const uint8_t *bytes, size_t len);
/* Writes what the socket takes. Returns bytes written, or -1 on failure. */
long tw_tcp_stream_write(tw_tcp_stream *st, tw_tcp_write_fn *write, void *ctx, void *user);

#endif
