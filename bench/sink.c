/*
** sink.c -- the benchmark's upload sink and slow endpoint.
**
**   sink PORTFILE
**
** Listens on 127.0.0.1 (a port picked by the kernel, written to PORTFILE)
** and speaks just enough HTTP/1.1 for the benchmark clients, with
** keep-alive:
**
**   any request with a body   reads the whole body (Content-Length or
**                             chunked), throws it away and answers
**                             {"received":N} with N the body's byte count,
**                             so the harness can check what arrived
**   GET /slow?ms=N            answers "ok\n" after N milliseconds
**   any other request         answers "ok\n" at once
**
** Why not nginx: nginx answers `return 200` before the body has arrived
** (clients then stop uploading early) and otherwise buffers large bodies
** to temporary files, which would measure the disk; and stock nginx cannot
** delay an answer.  This sink reads into one shared buffer and keeps only
** a few hundred bytes per connection, so a thousand waiting clients and a
** 256 MiB upload both cost it nothing worth measuring.
**
** "Expect: 100-continue" is answered at once (libcurl sends it for large
** uploads and would otherwise wait a second).  Single-threaded, poll().
*/
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXFD 16384
#define HDR_MAX 8192

enum { ST_HDR, ST_BODY_CL, ST_BODY_CH, ST_WAIT };
enum { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_END, CH_TRAILER };

typedef struct conn {
  int fd;
  int state;
  int close_after;       /* client sent Connection: close */
  char hdr[HDR_MAX];
  size_t hlen;
  long long remaining;   /* Content-Length left, or current chunk left */
  long long received;    /* body bytes so far */
  int ch_state;
  int trailer_len;       /* bytes on the current trailer line */
  long long due_ms;      /* ST_WAIT: when to answer */
} conn;

static conn *conns[MAXFD];
static char rbuf[256 * 1024];

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void drop(conn *c) {
  conns[c->fd] = NULL;
  close(c->fd);
  free(c);
}

/* Writes all of buf; the answers are tiny, so a full socket buffer only
** happens when the client stopped reading: then the connection is lost. */
static int send_all(conn *c, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t k = send(c->fd, buf, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && errno == EAGAIN) {
      struct pollfd p = {c->fd, POLLOUT, 0};
      if (poll(&p, 1, 5000) <= 0) return -1;
      continue;
    }
    if (k <= 0) return -1;
    buf += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Sends a 200 with the given body; returns -1 when the connection is gone
** (dropped here). */
static int answer(conn *c, const char *ctype, const char *body) {
  char out[512];
  int n = snprintf(out, sizeof out,
                   "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n%s",
                   ctype, strlen(body), c->close_after ? "Connection: close\r\n" : "", body);
  if (send_all(c, out, (size_t)n) != 0 || c->close_after) {
    drop(c);
    return -1;
  }
  c->state = ST_HDR;
  c->hlen = 0;
  return 0;
}

static int body_done(conn *c) {
  char body[64];
  snprintf(body, sizeof body, "{\"received\":%lld}", c->received);
  return answer(c, "application/json", body);
}

/* Value of header `name` in the header block, or NULL (case-insensitive;
** points into hdr, ends at CR). */
static const char *header(const char *hdr, const char *name) {
  size_t nl = strlen(name);
  const char *p = strstr(hdr, "\r\n");
  while (p && p[2] != '\r') {
    p += 2;
    if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      p += nl + 1;
      while (*p == ' ' || *p == '\t') p++;
      return p;
    }
    p = strstr(p, "\r\n");
  }
  return NULL;
}

/* The header block of c is complete in hdr[0..hlen) (NUL-terminated):
** decide what to do with the request.  Returns -1 when c was dropped. */
static int start_request(conn *c) {
  const char *h = c->hdr;
  const char *v;
  c->close_after = (v = header(h, "Connection")) && strncasecmp(v, "close", 5) == 0;
  c->received = 0;
  int chunked = (v = header(h, "Transfer-Encoding")) && strncasecmp(v, "chunked", 7) == 0;
  long long cl = (v = header(h, "Content-Length")) ? atoll(v) : 0;
  if (chunked || cl > 0) {
    if ((v = header(h, "Expect")) && strncasecmp(v, "100-continue", 12) == 0) {
      static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
      if (send_all(c, cont, sizeof cont - 1) != 0) {
        drop(c);
        return -1;
      }
    }
    c->state = chunked ? ST_BODY_CH : ST_BODY_CL;
    c->remaining = chunked ? 0 : cl;
    c->ch_state = CH_SIZE;
    return 0;
  }
  const char *path = strchr(h, ' ');
  if (path && strncmp(path + 1, "/slow?ms=", 9) == 0) {
    c->state = ST_WAIT;
    c->due_ms = now_ms() + atoll(path + 10);
    return 0;
  }
  return answer(c, "text/plain", "ok\n");
}

/* Feeds n bytes of a chunked body; returns how many were used (the body
** may end before the data does), or -1 when c was dropped. */
static long chunked(conn *c, const char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    char ch = p[i];
    switch (c->ch_state) {
    case CH_SIZE:
      i++;
      if (ch >= '0' && ch <= '9') c->remaining = c->remaining * 16 + (ch - '0');
      else if ((ch | 32) >= 'a' && (ch | 32) <= 'f') c->remaining = c->remaining * 16 + ((ch | 32) - 'a' + 10);
      else if (ch == ';') c->ch_state = CH_EXT;
      else if (ch == '\n') {
        c->ch_state = c->remaining ? CH_DATA : CH_TRAILER;
        c->trailer_len = 0;
      }
      break;
    case CH_EXT:
      i++;
      if (ch == '\n') {
        c->ch_state = c->remaining ? CH_DATA : CH_TRAILER;
        c->trailer_len = 0;
      }
      break;
    case CH_DATA: {
      size_t k = n - i;
      if ((long long)k > c->remaining) k = (size_t)c->remaining;
      c->remaining -= (long long)k;
      c->received += (long long)k;
      i += k;
      if (c->remaining == 0) c->ch_state = CH_DATA_END;
      break;
    }
    case CH_DATA_END:
      i++;
      if (ch == '\n') c->ch_state = CH_SIZE;
      break;
    case CH_TRAILER:
      i++;
      if (ch == '\n') {
        if (c->trailer_len == 0) return body_done(c) < 0 ? -1 : (long)i;
        c->trailer_len = 0;
      } else if (ch != '\r') {
        c->trailer_len++;
      }
      break;
    }
  }
  return (long)i;
}

/* Feeds bytes read from c's socket through its state machine.  Returns
** -1 when c was dropped. */
static int feed(conn *c, const char *p, size_t n) {
  while (n > 0) {
    if (c->state == ST_HDR) {
      size_t old = c->hlen, room = HDR_MAX - 1 - c->hlen;
      if (room == 0) {
        drop(c);
        return -1;
      }
      size_t k = n < room ? n : room;
      memcpy(c->hdr + c->hlen, p, k);
      c->hlen += k;
      c->hdr[c->hlen] = 0;
      p += k;
      n -= k;
      char *end = strstr(c->hdr + (old > 3 ? old - 3 : 0), "\r\n\r\n");
      if (!end) continue;
      size_t used = (size_t)(end + 4 - c->hdr);
      size_t extra = c->hlen - used; /* bytes past the headers: give them back */
      p -= extra;
      n += extra;
      c->hlen = used;
      c->hdr[used - 2] = 0; /* keep the last header's CRLF for header() */
      if (start_request(c) < 0) return -1;
    } else if (c->state == ST_BODY_CL) {
      size_t k = n;
      if ((long long)k > c->remaining) k = (size_t)c->remaining;
      c->remaining -= (long long)k;
      c->received += (long long)k;
      p += k;
      n -= k;
      if (c->remaining == 0 && body_done(c) < 0) return -1;
    } else if (c->state == ST_BODY_CH) {
      long k = chunked(c, p, n);
      if (k < 0) return -1;
      p += k;
      n -= (size_t)k;
    } else {
      return 0; /* ST_WAIT: nobody pipelines behind a slow request */
    }
  }
  return 0;
}

static void on_readable(conn *c) {
  for (;;) {
    ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      drop(c);
      return;
    }
    if (feed(c, rbuf, (size_t)n) < 0) return;
    if ((size_t)n < sizeof rbuf) return;
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: sink PORTFILE\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 4096) != 0 ||
      getsockname(ls, (struct sockaddr *)&a, &alen) != 0) {
    perror("sink");
    return 1;
  }
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
  FILE *f = fopen(tmp, "w");
  if (!f) {
    perror("sink: port file");
    return 1;
  }
  fprintf(f, "%d\n", ntohs(a.sin_port));
  fclose(f);
  rename(tmp, argv[1]); /* the harness sees the whole number or nothing */

  static struct pollfd pfd[MAXFD];
  for (;;) {
    int np = 0;
    long long now = now_ms(), next = -1;
    pfd[np++] = (struct pollfd){ls, POLLIN, 0};
    for (int fd = 0; fd < MAXFD; fd++) {
      conn *c = conns[fd];
      if (!c) continue;
      if (c->state == ST_WAIT) {
        if (c->due_ms <= now) {
          if (answer(c, "text/plain", "ok\n") < 0) continue;
        } else if (next < 0 || c->due_ms < next) {
          next = c->due_ms;
        }
      }
      pfd[np++] = (struct pollfd){fd, POLLIN, 0};
    }
    int timeout = next < 0 ? -1 : (int)(next - now);
    if (poll(pfd, (nfds_t)np, timeout) < 0 && errno != EINTR) {
      perror("sink: poll");
      return 1;
    }
    if (pfd[0].revents) {
      int fd;
      while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
        if (fd >= MAXFD) {
          close(fd);
          continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn *c = calloc(1, sizeof *c);
        if (!c) {
          close(fd);
          continue;
        }
        c->fd = fd;
        conns[fd] = c;
      }
    }
    for (int k = 1; k < np; k++)
      if (pfd[k].revents && conns[pfd[k].fd]) on_readable(conns[pfd[k].fd]);
  }
}
