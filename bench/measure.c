/*
** measure.c -- runs one benchmark client and measures it from outside.
**
**   measure -o STATS [-t SECONDS] -- command args...
**
** The child's standard output goes through a pipe and is copied to ours
** unchanged.  A line "@mark NAME" printed by the child is stamped with the
** time it arrived, so the harness can time the measured part of a client
** (after its imports and setup) with one clock for every peer, whatever the
** language.  When the child has exited, one tab-separated line goes to
** STATS:
**
**   wall  user  sys  maxrss_kb  exit  mark_start  mark_end
**
** (seconds, seconds, seconds, KiB, exit status or 128+signal, and the
** arrival times of "@mark start" and "@mark end" in seconds since the
** start, or -1 when the child printed none).  user, sys and maxrss come
** from wait4(), so they cover the child and any process it waited for.
** A child still running after SECONDS is killed (exit 137 in STATS).
*/
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double tv(struct timeval t) { return (double)t.tv_sec + t.tv_usec / 1e6; }

static void usage(void) {
  fprintf(stderr, "usage: measure -o STATS [-t SECONDS] -- command args...\n");
  exit(2);
}

/* Scans complete lines of buf[0..*len) for marks, shifts the unfinished
** tail to the front.  Lines longer than the buffer are passed over. */
static void scan_lines(char *buf, size_t *len, double t0, double *mstart, double *mend) {
  size_t start = 0;
  for (size_t i = 0; i < *len; i++) {
    if (buf[i] != '\n') continue;
    size_t n = i - start;
    const char *l = buf + start;
    if (n >= 11 && memcmp(l, "@mark start", 11) == 0) *mstart = now() - t0;
    else if (n >= 9 && memcmp(l, "@mark end", 9) == 0) *mend = now() - t0;
    start = i + 1;
  }
  if (start == 0 && *len == 4096) *len = 0; /* one huge line: drop it */
  else {
    memmove(buf, buf + start, *len - start);
    *len -= start;
  }
}

int main(int argc, char **argv) {
  const char *stats = NULL;
  double limit = 0;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) stats = argv[++i];
    else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) limit = atof(argv[++i]);
    else usage();
  }
  if (!stats || i >= argc) usage();

  int fds[2];
  if (pipe(fds) != 0) { perror("measure: pipe"); return 2; }
  double t0 = now();
  pid_t pid = fork();
  if (pid < 0) { perror("measure: fork"); return 2; }
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 1);
    close(fds[1]);
    execvp(argv[i], argv + i);
    fprintf(stderr, "measure: cannot run %s: %s\n", argv[i], strerror(errno));
    _exit(127);
  }
  close(fds[1]);

  char line[4096];
  size_t llen = 0;
  double mstart = -1, mend = -1;
  int killed = 0;
  for (;;) {
    struct pollfd p = {fds[0], POLLIN, 0};
    int wait_ms = -1;
    if (limit > 0) {
      double left = t0 + limit - now();
      wait_ms = left > 0 ? (int)(left * 1000) + 1 : 0;
    }
    int r = poll(&p, 1, wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) { /* time is up */
      kill(pid, SIGKILL);
      killed = 1;
      break;
    }
    char tmp[4096];
    ssize_t n = read(fds[0], tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    fwrite(tmp, 1, (size_t)n, stdout);
    for (ssize_t k = 0; k < n; k++) {
      line[llen++] = tmp[k];
      if (tmp[k] == '\n' || llen == sizeof line) scan_lines(line, &llen, t0, &mstart, &mend);
    }
  }
  fflush(stdout);

  int status = 0;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) { perror("measure: wait4"); return 2; }
  }
  double wall = now() - t0;
  close(fds[0]);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (killed) code = 137;

  FILE *f = fopen(stats, "w");
  if (!f) { perror("measure: stats file"); return 2; }
  fprintf(f, "%.6f\t%.6f\t%.6f\t%ld\t%d\t%.6f\t%.6f\n", wall, tv(ru.ru_utime), tv(ru.ru_stime),
          ru.ru_maxrss, code, mstart, mend);
  fclose(f);
  return code;
}
