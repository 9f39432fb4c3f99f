/*
** peer_libcurl.c -- the benchmark's ceiling: libcurl used directly from C.
**
**   peer_libcurl init                 curl_global_init + one easy handle, then exit
**   peer_libcurl seq URL N            N GETs, one reused easy handle
**   peer_libcurl conc URL N P         N GETs, P in flight on one multi handle
**   peer_libcurl conc-keep URL N P    conc, keeping every response's status,
**                                     header block and body until all are
**                                     done (what http.parallel must return)
**   peer_libcurl seq-lurlhdrs URL N   seq with lurl's default request setup
**   peer_libcurl seq-wire SHAPE URL N seq sending what a bench/shapes script
**                                     puts on the wire beyond a plain GET
**                                     (see wire_setup), as C would send it
**   peer_libcurl conc-wire SHAPE URL N P  conc sending the same
**   peer_libcurl conc-lurlhdrs URL N P
**                                     conc with it (both: see below)
**   peer_libcurl stream URL           one GET, body thrown away as it arrives
**   peer_libcurl save URL PATH        one GET, body written to PATH with fwrite
**   peer_libcurl upload URL FILE      multipart POST of FILE (curl_mime, read
**                                     from disk as it is sent)
**   peer_libcurl wait URL T           T transfers in flight at once on one multi
**                                     handle (URL is a slow endpoint)
**
** Every mode prints the same lines as the other peers (see bench/run):
**   @mark start                       when the measured part begins
**   @mark end                         when it ends
**   RESULT n=.. ok=.. bytes=.. cpu=.. [recv=..]
** n is the number of requests made, ok how many answered 200, bytes the body
** bytes received (for upload: the file size sent), cpu the process CPU
** seconds (user+sys) spent between the marks, recv what the upload sink said
** it received.  Only the options a plain libcurl program needs are set, plus
** CURLOPT_NOSIGNAL (without it libcurl brackets every call with eight
** sigaction() calls to ignore SIGPIPE; lurl sets it too): this is the cost
** of the transfers themselves, which lurl adds its work to.
**
** The -lurlhdrs modes add, once per easy handle, what lurl gives every
** request by default: a share handle (DNS, SSL session, connections,
** cookies) with the cookie engine on (CURLOPT_COOKIEFILE ""), decoding
** (CURLOPT_ACCEPT_ENCODING) and its two headers as a CURLOPT_HTTPHEADER
** list, "User-Agent: lurl/VERSION" ($LURL_UA, set by bench/run) and the
** Accept-Encoding this libcurl decodes, and the URL handed over parsed
** (CURLOPT_CURLU, parsed once) as lurl hands it.  What libcurl spends on
** these is a floor under lurl's cost that no libcurl client sending them
** can go below.
*/
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static long long total_bytes;

/* lurl's default request setup (the -lurlhdrs modes), else NULL. */
static CURLSH *lurl_share;
static struct curl_slist *lurl_headers;
static char lurl_ae[32];
static CURLU *lurl_url; /* the URL, parsed once (read-only for libcurl) */

static void lurl_setup(void) {
  curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  char line[64];
  snprintf(lurl_ae, sizeof lurl_ae, "deflate, gzip%s%s",
           (v->features & CURL_VERSION_BROTLI) ? ", br" : "",
           (v->features & CURL_VERSION_ZSTD) ? ", zstd" : "");
  snprintf(line, sizeof line, "Accept-Encoding: %s", lurl_ae);
  lurl_share = curl_share_init();
  /* bench/run passes the User-Agent of the lurl it measures */
  const char *ua = getenv("LURL_UA");
  char ualine[128];
  snprintf(ualine, sizeof ualine, "User-Agent: %s", ua && *ua ? ua : "lurl/0.1.0");
  lurl_headers = curl_slist_append(NULL, ualine);
  if (lurl_headers) lurl_headers = curl_slist_append(lurl_headers, line);
  if (!lurl_share || !lurl_headers) {
    fprintf(stderr, "cannot set up lurl's defaults\n");
    exit(1);
  }
  curl_share_setopt(lurl_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(lurl_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_share_setopt(lurl_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_share_setopt(lurl_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
}

/* After every easy handle is cleaned up (they detach from the share). */
static void lurl_setup_free(void) {
  if (lurl_share) curl_share_cleanup(lurl_share);
  curl_slist_free_all(lurl_headers);
  curl_url_cleanup(lurl_url);
  lurl_url = NULL;
  lurl_share = NULL;
  lurl_headers = NULL;
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void mark(const char *what) {
  printf("@mark %s\n", what);
  fflush(stdout);
}

/* Counts and discards the body. */
static size_t discard(char *p, size_t size, size_t n, void *ud) {
  (void)p;
  (void)ud;
  total_bytes += (long long)(size * n);
  return size * n;
}

/* Keeps a short response body (the sink's JSON answer). */
struct small { char buf[256]; size_t len; };
static size_t keep(char *p, size_t size, size_t n, void *ud) {
  struct small *s = ud;
  size_t k = size * n;
  if (k > sizeof s->buf - 1 - s->len) k = sizeof s->buf - 1 - s->len;
  memcpy(s->buf + s->len, p, k);
  s->len += k;
  s->buf[s->len] = 0;
  return size * n;
}

static CURL *new_easy(const char *url) {
  CURL *h = curl_easy_init();
  if (!h) {
    fprintf(stderr, "curl_easy_init failed\n");
    exit(1);
  }
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  if (lurl_share) {
    curl_easy_setopt(h, CURLOPT_SHARE, lurl_share);
    curl_easy_setopt(h, CURLOPT_COOKIEFILE, "");
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, lurl_ae);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, lurl_headers);
    if (!lurl_url) {
      lurl_url = curl_url();
      if (!lurl_url || curl_url_set(lurl_url, CURLUPART_URL, url,
                                    CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        fprintf(stderr, "cannot parse %s\n", url);
        exit(1);
      }
    }
    curl_easy_setopt(h, CURLOPT_CURLU, lurl_url);
  }
  return h;
}

/*
** One response kept whole (conc-keep): its status and two buffers that grow
** by doubling, the raw header block (every header line libcurl hands over,
** status line included) and the body.  All N stay allocated until the end,
** as the list http.parallel returns holds every response.
*/
struct kept {
  long status;
  char *hdr, *body;
  size_t hlen, hcap, blen, bcap;
};

static int grow(char **buf, size_t *len, size_t *cap, const char *p, size_t k) {
  if (*len + k > *cap) {
    size_t c = *cap ? *cap : 256;
    while (c < *len + k) c *= 2;
    char *nb = realloc(*buf, c);
    if (!nb) return 0;
    *buf = nb;
    *cap = c;
  }
  memcpy(*buf + *len, p, k);
  *len += k;
  return 1;
}

static size_t keep_body(char *p, size_t size, size_t n, void *ud) {
  struct kept *r = ud;
  return grow(&r->body, &r->blen, &r->bcap, p, size * n) ? size * n : 0;
}

static size_t keep_header(char *p, size_t size, size_t n, void *ud) {
  struct kept *r = ud;
  return grow(&r->hdr, &r->hlen, &r->hcap, p, size * n) ? size * n : 0;
}

/* Points handle h at response slot r (a reused handle starts a new one). */
static void keep_into(CURL *h, struct kept *r) {
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, (void *)r);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, keep_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, (void *)r);
  curl_easy_setopt(h, CURLOPT_PRIVATE, (void *)r);
}

/*
** seq-wire and conc-wire: libcurl's own cost of what a shape sends beyond a
** plain GET, so a shape's ratio can be read against the C program sending
** the same bytes (one easy handle, or a multi handle with P in flight).
**   timeout   CURLOPT_TIMEOUT_MS 60000, once per handle
**   headers   Accept: application/json and an X-Api-Key header, one list
**   params    the URL with ?page=I&per_page=50, set before each request
**   base_url  an X-Request-Id: I header, a new list for each request (the
**             handle's own: conc-wire keeps one per handle)
** Any other shape sends a plain GET.
*/
static const char *wire_shape = "";
static struct curl_slist *wire_headers; /* headers: one list for every handle */

static void wire_setup(CURL *h) {
  if (strcmp(wire_shape, "timeout") == 0) {
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
  } else if (strcmp(wire_shape, "headers") == 0) {
    if (!wire_headers) {
      wire_headers = curl_slist_append(NULL, "Accept: application/json");
      if (wire_headers) wire_headers = curl_slist_append(wire_headers, "X-Api-Key: k-3f9a2c71d04e4b8a9e15");
      if (!wire_headers) exit(1);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, wire_headers);
  }
}

/* Before request i on h; frees what h's request before it needed (*own:
** the handle's list). */
static void wire_request(CURL *h, const char *url, long i, struct curl_slist **own) {
  char buf[4096];
  if (strcmp(wire_shape, "params") == 0) {
    snprintf(buf, sizeof buf, "%s?page=%ld&per_page=50", url, i + 1);
    curl_easy_setopt(h, CURLOPT_URL, buf); /* libcurl copies it */
  } else if (strcmp(wire_shape, "base_url") == 0) {
    curl_slist_free_all(*own);
    snprintf(buf, sizeof buf, "X-Request-Id: %ld", i + 1);
    *own = curl_slist_append(NULL, buf);
    if (!*own) exit(1);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *own);
  }
}

static int status_ok(CURL *h) {
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  return code == 200;
}

static int seq(const char *url, long n) {
  CURL *h = new_easy(url);
  long ok = 0;
  struct curl_slist *own = NULL;
  wire_setup(h);
  mark("start");
  double c0 = cpu_now();
  for (long i = 0; i < n; i++) {
    wire_request(h, url, i, &own);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
      fprintf(stderr, "request %ld: %s\n", i, curl_easy_strerror(rc));
      return 1;
    }
    ok += status_ok(h);
  }
  double cpu = cpu_now() - c0;
  mark("end");
  printf("RESULT n=%ld ok=%ld bytes=%lld cpu=%.6f\n", n, ok, total_bytes, cpu);
  curl_easy_cleanup(h);
  curl_slist_free_all(own);
  return 0;
}

/*
** Keeps `inflight` transfers running on one multi handle until n have
** been started and all have finished; a finished easy handle is reused for
** the next request (its connection goes back to the multi's cache).
*/
static int run_multi(const char *url, long n, long inflight, struct kept *keep, long *ok_out) {
  CURLM *m = curl_multi_init();
  CURL **hs = calloc((size_t)inflight, sizeof *hs);
  /* conc-wire: each handle's own list (base_url), found through PRIVATE */
  int per_handle = !keep && strcmp(wire_shape, "base_url") == 0;
  struct curl_slist **own = calloc((size_t)inflight, sizeof *own);
  long started = 0, done = 0, ok = 0;
  for (long i = 0; i < inflight && started < n; i++, started++) {
    hs[i] = new_easy(url);
    if (keep) keep_into(hs[i], &keep[started]);
    if (per_handle) curl_easy_setopt(hs[i], CURLOPT_PRIVATE, (char *)&own[i]);
    if (*wire_shape) { /* conc-wire only: conc pays no test per request */
      wire_setup(hs[i]);
      wire_request(hs[i], url, started, &own[i]);
    }
    curl_multi_add_handle(m, hs[i]);
  }
  while (done < n) {
    int running = 0;
    curl_multi_perform(m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL *h = msg->easy_handle;
      if (msg->data.result != CURLE_OK) {
        fprintf(stderr, "transfer: %s\n", curl_easy_strerror(msg->data.result));
        return 1;
      }
      if (keep) {
        struct kept *r;
        curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&r);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
      } else {
        ok += status_ok(h);
      }
      done++;
      curl_multi_remove_handle(m, h);
      if (started < n) {
        if (keep) keep_into(h, &keep[started]);
        if (*wire_shape) {
          struct curl_slist **mine = NULL;
          if (per_handle) curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&mine);
          wire_request(h, url, started, mine);
        }
        started++;
        curl_multi_add_handle(m, h);
      }
    }
    if (done < n) curl_multi_poll(m, NULL, 0, 1000, NULL);
  }
  for (long i = 0; i < inflight; i++) {
    if (hs[i]) curl_easy_cleanup(hs[i]);
    curl_slist_free_all(own[i]);
  }
  free(hs);
  free(own);
  curl_multi_cleanup(m);
  *ok_out = ok;
  return 0;
}

/*
** conc, or with keep_all every response kept until all n are done; then
** they are counted (status 200, body bytes, a header block that is there)
** and freed, inside the measured part as a script's results are read.
*/
static int multi_mode(const char *url, long n, long inflight, int keep_all) {
  long ok = 0;
  struct kept *keep = NULL;
  mark("start");
  double c0 = cpu_now();
  if (keep_all && !(keep = calloc((size_t)n, sizeof *keep))) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  if (run_multi(url, n, inflight, keep, &ok) != 0) return 1;
  if (keep) {
    for (long i = 0; i < n; i++) {
      ok += keep[i].status == 200 && keep[i].hlen > 0;
      total_bytes += (long long)keep[i].blen;
      free(keep[i].hdr);
      free(keep[i].body);
    }
    free(keep);
  }
  double cpu = cpu_now() - c0;
  mark("end");
  printf("RESULT n=%ld ok=%ld bytes=%lld cpu=%.6f\n", n, ok, total_bytes, cpu);
  return 0;
}

/* Writes the body to a FILE, counting it. */
static size_t to_file(char *p, size_t size, size_t n, void *ud) {
  total_bytes += (long long)(size * n);
  return fwrite(p, size, n, (FILE *)ud) * size;
}

/* One GET: the body is thrown away, or written to `path` when given. */
static int stream(const char *url, const char *path) {
  CURL *h = new_easy(url);
  FILE *f = NULL;
  if (path) {
    f = fopen(path, "wb");
    if (!f) {
      perror(path);
      return 1;
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, to_file);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, (void *)f);
  }
  mark("start");
  double c0 = cpu_now();
  CURLcode rc = curl_easy_perform(h);
  if (f && fclose(f) != 0) rc = CURLE_WRITE_ERROR;
  double cpu = cpu_now() - c0;
  mark("end");
  if (rc != CURLE_OK) {
    fprintf(stderr, "stream: %s\n", curl_easy_strerror(rc));
    return 1;
  }
  printf("RESULT n=1 ok=%d bytes=%lld cpu=%.6f\n", status_ok(h), total_bytes, cpu);
  curl_easy_cleanup(h);
  return 0;
}

static int upload(const char *url, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    perror(path);
    return 1;
  }
  CURL *h = curl_easy_init();
  struct small answer = {{0}, 0};
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
  curl_mime *mime = curl_mime_init(h);
  curl_mimepart *part = curl_mime_addpart(mime);
  curl_mime_name(part, "file");
  curl_mime_filedata(part, path);
  curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
  mark("start");
  double c0 = cpu_now();
  CURLcode rc = curl_easy_perform(h);
  double cpu = cpu_now() - c0;
  mark("end");
  if (rc != CURLE_OK) {
    fprintf(stderr, "upload: %s\n", curl_easy_strerror(rc));
    return 1;
  }
  const char *r = strstr(answer.buf, "\"received\":");
  printf("RESULT n=1 ok=%d bytes=%lld cpu=%.6f recv=%lld\n", status_ok(h), (long long)st.st_size,
         cpu, r ? atoll(r + 11) : -1LL);
  curl_mime_free(mime);
  curl_easy_cleanup(h);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) goto usage;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
  const char *mode = argv[1];
  int rc;
  if (strcmp(mode, "seq-lurlhdrs") == 0 || strcmp(mode, "conc-lurlhdrs") == 0) {
    lurl_setup();
    mode = mode[0] == 's' ? "seq" : "conc";
  }
  if (strcmp(mode, "init") == 0 && argc == 2) {
    CURL *h = curl_easy_init();
    rc = h ? 0 : 1;
    curl_easy_cleanup(h);
  } else if (strcmp(mode, "seq") == 0 && argc == 4) {
    rc = seq(argv[2], atol(argv[3]));
  } else if (strcmp(mode, "seq-wire") == 0 && argc == 5) {
    wire_shape = argv[2];
    rc = seq(argv[3], atol(argv[4]));
  } else if (strcmp(mode, "conc") == 0 && argc == 5) {
    rc = multi_mode(argv[2], atol(argv[3]), atol(argv[4]), 0);
  } else if (strcmp(mode, "conc-wire") == 0 && argc == 6) {
    wire_shape = argv[2];
    rc = multi_mode(argv[3], atol(argv[4]), atol(argv[5]), 0);
  } else if (strcmp(mode, "conc-keep") == 0 && argc == 5) {
    rc = multi_mode(argv[2], atol(argv[3]), atol(argv[4]), 1);
  } else if (strcmp(mode, "wait") == 0 && argc == 4) {
    rc = multi_mode(argv[2], atol(argv[3]), atol(argv[3]), 0);
  } else if (strcmp(mode, "stream") == 0 && argc == 3) {
    rc = stream(argv[2], NULL);
  } else if (strcmp(mode, "save") == 0 && argc == 4) {
    rc = stream(argv[2], argv[3]);
  } else if (strcmp(mode, "upload") == 0 && argc == 4) {
    rc = upload(argv[2], argv[3]);
  } else {
    lurl_setup_free();
    goto usage;
  }
  lurl_setup_free();
  curl_global_cleanup();
  return rc;
usage:
  fprintf(stderr, "usage: peer_libcurl init | seq URL N | conc URL N P | stream URL | save URL PATH |"
                  " upload URL FILE | wait URL T | seq-lurlhdrs URL N | conc-lurlhdrs URL N P |"
                  " conc-keep URL N P | seq-wire SHAPE URL N | conc-wire SHAPE URL N P\n");
  return 2;
}
